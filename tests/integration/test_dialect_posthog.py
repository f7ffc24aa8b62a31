"""PostHog capture at the edge: the reference document's own examples, its body encodings,
illegal distinct ids, and the real ``posthog`` Python client; rows read back from ClickHouse."""

from __future__ import annotations

import base64
import gzip
import time
import uuid

import httpx
import orjson
import pytest
from posthog import Posthog

from tests.integration.helpers import fetch, wait_rows
from tests.integration.helpers import ingestion_warnings as warnings

pytestmark = pytest.mark.slow
OK = (200, {"status": 1})


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def send(server, path, body, **kwargs):
    response = httpx.post(f"{server.url}{path}", json=body, **kwargs)
    return response.status_code, response.json()


def by_event(rows):
    return {row["event"]: row for row in rows}


def test_reference_examples(embedded):
    """The capture document's curl bodies: single event, batch, $identify, $pageview,
    anonymous event, $set / $set_once."""
    project = embedded.projects[0]
    token = project["write_key"]
    user, anon, session = fresh("user distinct id"), fresh("anon distinct id"), fresh("s")
    assert (
        send(
            embedded,
            "/i/v0/e/",
            {
                "api_key": token,
                "event": "event name",
                "distinct_id": user,
                "properties": {"account_type": "pro"},
                "timestamp": "2026-01-01T00:00:00Z",
            },
        )
        == OK
    )
    batch = {
        "api_key": token,
        "historical_migration": False,
        "batch": [
            {
                "event": "batched_event_name",
                "properties": {"distinct_id": user, "account_type": "pro"},
                "timestamp": "2026-01-01T00:00:01Z",
            },
            {
                "event": "$pageview",
                "distinct_id": anon,
                "properties": {
                    "$current_url": "https://shop.test/pricing?utm_source=posthog",
                    "$session_id": session,
                    "$process_person_profile": False,
                    "$ip": "81.2.69.142",
                },
                "timestamp": "2026-01-01T00:00:02Z",
            },
        ],
    }
    assert send(embedded, "/batch/", batch) == OK
    identify = {
        "api_key": token,
        "event": "$identify",
        "distinct_id": user,
        "properties": {"$anon_distinct_id": anon, "$set": {"email": "max@hedgehogmail.com"}},
        "timestamp": "2026-01-01T00:00:03Z",
    }
    assert send(embedded, "/capture/", identify) == OK
    person = {
        "api_key": token,
        "event": "$set",
        "distinct_id": user,
        "properties": {"$set": {"name": "Max"}, "$set_once": {"first_seen": "2026"}},
    }
    assert send(embedded, "/e/", person) == OK

    rows = by_event(wait_rows(embedded, project, 5, user_id=user))
    assert set(rows) == {"event name", "batched_event_name", "$pageview", "$identify", "$set"}
    assert rows["event name"]["properties"] == {"account_type": "pro"}
    assert rows["event name"]["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert rows["batched_event_name"]["visitor_id"] == user
    page = rows["$pageview"]  # anonymous, resolved to the user through the $identify
    assert (page["type"], page["visitor_id"], page["path"]) == ("page", anon, "/pricing")
    assert (page["utm_source"], page["country"]) == ("posthog", "GB")
    assert page["properties"]["$session_id"] == session
    assert "$ip" not in page["properties"] and "81.2.69.142" not in str(page)
    assert rows["$identify"]["type"] == "identify"
    assert rows["$identify"]["traits"] == {"email": "max@hedgehogmail.com"}
    assert rows["$set"]["traits"] == {"name": "Max", "first_seen": "2026"}


def test_gzip_and_base64_form_bodies(embedded):
    project = embedded.projects[0]
    user = fresh("enc")
    event = {"api_key": project["write_key"], "event": "zipped", "distinct_id": user}
    zipped = gzip.compress(orjson.dumps(event))
    response = httpx.post(
        f"{embedded.url}/batch", content=zipped, headers={"Content-Encoding": "gzip"}
    )
    assert (response.status_code, response.json()) == OK
    response = httpx.post(
        f"{embedded.url}/e/?compression=gzip-js",
        content=gzip.compress(orjson.dumps([{**event, "event": "gzip-js"}])),
    )
    assert (response.status_code, response.json()) == OK
    form = base64.b64encode(orjson.dumps({**event, "event": "form"})).decode()
    response = httpx.post(f"{embedded.url}/e/", data={"data": form})
    assert (response.status_code, response.json()) == OK
    rows = by_event(wait_rows(embedded, project, 3, user_id=user))
    assert set(rows) == {"zipped", "gzip-js", "form"}


@pytest.mark.parametrize("illegal", ["anonymous", "null", "0", "undefined", " ", "[object Object]"])
def test_illegal_anon_ids_are_not_merged(embedded, illegal):
    project = embedded.projects[1]
    user, uid = fresh("legal"), str(uuid.uuid4())
    # an earlier anonymous event under the illegal id must not become the user's
    before = {
        "event": "before",
        "distinct_id": illegal,
        "properties": {"$process_person_profile": False},
    }
    body = {
        "api_key": project["write_key"],
        "batch": [
            *([before] if illegal.strip() else []),  # a blank distinct_id is refused (400)
            {
                "event": "$identify",
                "distinct_id": user,
                "uuid": uid,
                "properties": {"$anon_distinct_id": illegal},
            },
        ],
    }
    assert send(embedded, "/batch/", body) == OK
    [identify] = wait_rows(embedded, project, 1, user_id=user)
    assert (identify["event"], identify["visitor_id"]) == ("$identify", "")
    refused = [
        w for w in warnings(embedded, project, source="posthog") if w["details"]["eventUuid"] == uid
    ]
    assert [w["type"] for w in refused] == ["cannot_merge_with_illegal_distinct_id"]
    assert refused[0]["details"] == {
        "illegalDistinctId": illegal,
        "otherDistinctId": user,
        "eventUuid": uid,
    }
    assert all(r["user_id"] != user for r in fetch(embedded, project, event="before")["events"])


def test_identify_as_an_illegal_id_is_refused(embedded):
    project = embedded.projects[1]
    anon, uid = fresh("anon"), str(uuid.uuid4())
    body = {
        "api_key": project["write_key"],
        "event": "$identify",
        "distinct_id": "anonymous",
        "uuid": uid,
        "properties": {"$anon_distinct_id": anon},
    }
    assert send(embedded, "/i/v0/e", body) == OK
    [row] = wait_rows(embedded, project, 1, visitor_id=anon)
    assert (row["type"], row["user_id"]) == ("track", "")
    [warning] = [w for w in warnings(embedded, project) if w["details"]["eventUuid"] == uid]
    assert warning["details"]["illegalDistinctId"] == "anonymous"


def test_errors_as_posthog_answers_them(embedded):
    project = embedded.projects[1]
    status, body = send(embedded, "/capture/", {"event": "x", "distinct_id": "d"})
    assert (status, body["type"], body["code"]) == (401, "authentication_error", "invalid_api_key")
    assert body["detail"].startswith("API key not provided")
    status, body = send(
        embedded, "/capture/", {"api_key": "phc_nope", "event": "x", "distinct_id": "d"}
    )
    assert status == 401 and body["detail"].startswith("Project API key invalid")
    key = project["write_key"]
    status, body = send(embedded, "/batch/", {"api_key": key, "batch": [{"event": "x"}]})
    assert (status, body["code"], body["attr"]) == (400, "invalid_payload", "distinct_id")
    status, body = send(embedded, "/batch/", {"api_key": key, "batch": [{"distinct_id": "d"}]})
    assert (status, body["attr"]) == (400, "event")
    response = httpx.post(f"{embedded.url}/batch/", content=b"{not json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_payload"
    big = {"api_key": key, "event": "x", "distinct_id": "d", "properties": {"b": "x" * 600_000}}
    assert send(embedded, "/e/", big)[0] == 413


def test_real_posthog_python_client(embedded):
    """The ``posthog`` client posts to /batch/ with the token in the body."""
    project = embedded.projects[0]
    user, old = fresh("ph-user"), fresh("ph-old")
    client = Posthog(
        project["write_key"],
        host=embedded.url,
        sync_mode=True,
        gzip=True,
        feature_flags_request_timeout_seconds=1,
    )
    client.capture(
        "$pageview",
        distinct_id=old,
        properties={"$current_url": "https://shop.test/a", "$process_person_profile": False},
    )
    client.capture(
        "plan upgraded", distinct_id=user, properties={"plan": {"tier": "pro"}, "seats": 3}
    )
    client.set(distinct_id=user, properties={"email": "ph@example.com"})
    client.set_once(distinct_id=user, properties={"signup": "2026-01-01"})
    client.alias(previous_id=old, distinct_id=user)
    client.flush()
    client.shutdown()
    rows = by_event(wait_rows(embedded, project, 5, user_id=user))
    assert set(rows) == {"$pageview", "plan upgraded", "$set", "$set_once", "$create_alias"}
    upgraded = rows["plan upgraded"]
    assert (upgraded["properties"]["plan.tier"], upgraded["properties"]["seats"]) == ("pro", 3)
    assert upgraded["properties"]["$lib"] == "posthog-python"
    assert rows["$set"]["traits"] == {"email": "ph@example.com"}
    assert rows["$set_once"]["traits"] == {"signup": "2026-01-01"}
    assert rows["$pageview"]["visitor_id"] == old  # merged into the user by the alias
    assert rows["$create_alias"]["type"] == "identify"


def python_client(project, embedded):
    return Posthog(
        project["write_key"],
        host=embedded.url,
        sync_mode=True,
        gzip=True,
        feature_flags_request_timeout_seconds=1,
    )


def test_identify_merges_the_anonymous_distinct_id(embedded):
    """Issue 18: with the real client, a ``$pageview`` of ``anon_X`` then ``$identify`` of
    ``usr_Y`` (``$anon_distinct_id`` ``anon_X``): every event of both ids reads as ``usr_Y``,
    the pageview retroactively; the person's own events before the merge too."""
    project = embedded.projects[0]
    anon, user = fresh("anon"), fresh("usr")
    client = python_client(project, embedded)
    client.capture("$pageview", distinct_id=anon, properties={"$current_url": "https://a.test/x"})
    client.capture("server side", distinct_id=user)  # the user's own, before the merge
    client.capture("$identify", distinct_id=user, properties={"$anon_distinct_id": anon})
    client.capture("after", distinct_id=anon)  # the anonymous id, after the merge
    client.capture("purchase", distinct_id=user)
    client.shutdown()
    rows = by_event(wait_rows(embedded, project, 5, user_id=user))
    assert set(rows) == {"$pageview", "server side", "$identify", "after", "purchase"}
    assert (rows["$pageview"]["visitor_id"], rows["$pageview"]["path"]) == (anon, "/x")
    assert rows["after"]["visitor_id"] == anon
    time.sleep(1)  # nothing of either id reads as the anonymous id's own person
    assert fetch(embedded, project, user_id=anon)["events"] == []


@pytest.mark.parametrize("how", ["alias", "$create_alias"])
def test_alias_merges_distinct_ids(embedded, how):
    """``alias(previous_id, distinct_id)`` and a raw ``$create_alias`` (``alias`` property):
    the previous id's events, before and after, read as the alias target."""
    project = embedded.projects[1]
    old, new = fresh("old"), fresh("new")
    client = python_client(project, embedded)
    client.capture("before", distinct_id=old)
    if how == "alias":
        client.alias(previous_id=old, distinct_id=new)
    else:
        client.capture("$create_alias", distinct_id=old, properties={"alias": new})
    client.capture("after", distinct_id=old)
    client.capture("own", distinct_id=new)
    client.shutdown()
    rows = by_event(wait_rows(embedded, project, 4, user_id=new))
    assert set(rows) == {"before", "$create_alias", "after", "own"}
    assert rows["before"]["visitor_id"] == rows["after"]["visitor_id"] == old
    time.sleep(1)
    assert fetch(embedded, project, user_id=old)["events"] == []
