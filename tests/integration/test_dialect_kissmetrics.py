"""KISSmetrics' tracking API at the edge (its documented GET pixels and POST forms), rows read
back from ClickHouse through GET /v1/events; PostHog keeps ``POST /e/`` and JSON ``POST /e``."""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.helpers import CHROME_WINDOWS, fetch, wait_rows
from tests.integration.helpers import ingestion_warnings as warnings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded(patient_embedded):
    """These tests are about the dialect, not load shedding (see ``patient_embedded``)."""
    return patient_embedded


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def pixel(server, path, **params):
    headers = {"User-Agent": CHROME_WINDOWS}
    response = httpx.get(f"{server.url}{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    return response


def test_record_set_alias_pixels_stitch_the_person(embedded):
    project = embedded.projects[0]
    key = project["write_key"]
    anonymous, email = fresh("km-anon"), f"{fresh('ann')}@example.com"
    now = int(time.time())
    # the anonymous visit: a record with properties, a set, a record in the past (_t, _d=1)
    pixel(embedded, "/e", _k=key, _p=anonymous, _n="Visited Site", plan="pro", **{"Ad Group": "A"})
    pixel(embedded, "/s", _k=key, _p=anonymous, gender="female", **{"Payment Plan": "Pro"})
    pixel(embedded, "/e", _k=key, _p=anonymous, _n="Viewed Pricing", _t=str(now - 3600), _d="1")
    # signing up: alias the anonymous id to the email, then events as the email
    pixel(embedded, "/a", _k=key, _p=anonymous, _n=email)
    pixel(embedded, "/e", _k=key, _p=email, _n="Signed Up", source="form")

    rows = wait_rows(embedded, project, 6, user_id=email)
    assert sorted(r["event"] for r in rows) == [
        "Signed Up",
        "Viewed Pricing",
        "Visited Site",
        "alias",
        "alias",
        "set",
    ]
    by_event = {r["event"]: r for r in rows}
    visited = by_event["Visited Site"]
    assert (visited["type"], visited["visitor_id"]) == ("track", anonymous)
    assert visited["properties"] == {"plan": "pro", "Ad Group": "A"}
    assert (visited["browser"], visited["device_type"]) == ("Chrome", "desktop")  # enriched
    assert visited["session_id"]
    assert by_event["set"]["traits"] == {"gender": "female", "Payment Plan": "Pro"}
    pricing = by_event["Viewed Pricing"]["timestamp"]
    assert pricing.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 3600)))
    signed = by_event["Signed Up"]
    assert (signed["visitor_id"], signed["properties"]) == (email, {"source": "form"})
    aliases = sorted((r["visitor_id"], r["type"]) for r in rows if r["event"] == "alias")
    assert aliases == sorted([(anonymous, "identify"), (email, "identify")])


def test_post_forms_and_the_shared_e_route(embedded):
    """The documented POST (form body, or the parameters in the query) on /e, /s, /a; PostHog's
    capture keeps ``POST /e/`` and a JSON ``POST /e``."""
    project = embedded.projects[0]
    key = project["write_key"]
    person, user = fresh("km-post"), fresh("km-user")
    form = {"_k": key, "_p": person, "_n": "Form Posted", "step": "2"}
    for path, body in (
        ("/e", form),
        ("/s", {"_k": key, "_p": person, "color": "black"}),
        ("/a", {"_k": key, "_p": person, "_n": user}),
    ):
        response = httpx.post(f"{embedded.url}{path}", data=body)
        assert (response.status_code, response.headers["content-type"]) == (200, "image/gif")
    in_query = httpx.post(f"{embedded.url}/e", params={**form, "_n": "Query Posted"})
    assert in_query.status_code == 200 and in_query.content.startswith(b"GIF89a")

    rows = wait_rows(embedded, project, 5, user_id=user)
    events = {r["event"]: r for r in rows}
    assert {"Form Posted", "Query Posted", "set", "alias"} <= set(events)
    assert events["Form Posted"]["properties"] == {"step": "2"}
    assert events["set"]["traits"] == {"color": "black"}

    # PostHog's capture on the same path, both spellings
    distinct = fresh("ph")
    for path in ("/e/", "/e"):
        response = httpx.post(
            f"{embedded.url}{path}",
            json={"api_key": key, "event": f"ph via {path}", "distinct_id": distinct},
        )
        assert (response.status_code, response.json()) == (200, {"status": 1}), path
    # PostHog's form body (data=<base64 JSON>) on /e: read to decide, then still PostHog's
    event = {"api_key": key, "event": "ph form", "distinct_id": distinct}
    data = base64.b64encode(orjson.dumps(event)).decode()
    response = httpx.post(f"{embedded.url}/e", data={"data": data})
    assert (response.status_code, response.json()) == (200, {"status": 1})
    posthog_rows = wait_rows(embedded, project, 3, visitor_id=distinct)
    assert {r["event"] for r in posthog_rows} == {"ph via /e/", "ph via /e", "ph form"}


def test_keys_warnings_and_duplicates(embedded):
    project = embedded.projects[1]
    key = project["write_key"]
    person = fresh("km-dup")
    # no or an unknown _k: nothing is accepted
    assert httpx.get(f"{embedded.url}/e", params={"_p": person, "_n": "x"}).status_code == 401
    unknown = httpx.get(f"{embedded.url}/e", params={"_k": "nope", "_p": person, "_n": "x"})
    assert unknown.status_code == 401
    # a call KISSmetrics answers 200 for but that cannot be stored: a warning row
    pixel(embedded, "/e", _k=key, _p=person)  # no _n
    refused = [
        w
        for w in warnings(embedded, project, source="kissmetrics")
        if w["details"]["_p"] == person
    ]
    assert refused and refused[0]["type"] == "call_not_stored"
    assert (refused[0]["details"]["field"], refused[0]["details"]["call"]) == ("_n", "record")
    # the same pixel with _t, requested three times: stored once
    stamp = str(int(time.time()))
    for _ in range(3):
        pixel(embedded, "/e", _k=key, _p=person, _n="Purchased", _t=stamp, amount="10")
    pixel(embedded, "/e", _k=key, _p=person, _n="Marker")
    wait_rows(embedded, project, 2, visitor_id=person)
    assert len(fetch(embedded, project, visitor_id=person, event="Purchased")["events"]) == 1


PARAM_NAMES = st.sampled_from(["_k", "_p", "_n", "_t", "_d", "plan", "a:b,c"]) | st.text(
    max_size=8
)
NASTY = st.sampled_from(
    ["", " ", "1", "0", "1e400", "nan", "-1", "99999999999999", "\x00", "x" * 300]
)
PARAM_VALUES = NASTY | st.text(max_size=20)

# a complete call with _d=1, so that _t's value matters
COMPLETE = {"_p": st.just("fuzzed"), "_n": st.just("Fuzzed"), "_d": st.just("1")} | {
    "_t": NASTY
}


def test_no_parameters_make_a_call_fail(embedded):
    """Whatever the parameters, no call answers a 5xx; with a valid key, always the pixel."""
    key = embedded.projects[1]["write_key"]
    failures: list[str] = []
    with httpx.Client(base_url=embedded.url, timeout=30) as client:

        @given(
            path=st.sampled_from(["/e", "/s", "/a"]),
            params=st.dictionaries(PARAM_NAMES, PARAM_VALUES, max_size=6),
            keep_key=st.booleans(),
            post=st.booleans(),
            base=st.just({}) | st.fixed_dictionaries(COMPLETE),
        )
        @settings(max_examples=120, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def call(path, params, keep_key, post, base) -> None:
            params = {**base, **params}
            if keep_key:
                params = {**params, "_k": key}
            send = client.post if post else client.get
            response = send(path, **({"data": params} if post else {"params": params}))
            # with the key: the pixel; without: 401, except a POST /e, which is PostHog's
            expected = 200 if keep_key else None if post and path == "/e" else 401
            status = response.status_code
            if status >= 500 or expected not in (None, status):
                method = "POST" if post else "GET"
                failures.append(f"{method} {path} {params!r}: {response.status_code}")

        call()
    assert not failures, failures[:5]
