"""KISSmetrics' tracking API at the edge (its documented GET pixels and POST forms), rows read
back from ClickHouse through GET /v1/events; PostHog keeps ``POST /e/`` and JSON ``POST /e``."""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import orjson
import pytest

from tests.integration.test_dialect_segment import warnings
from tests.integration.test_embedded_e2e import CHROME_WINDOWS, fetch, wait_rows

pytestmark = pytest.mark.slow


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
