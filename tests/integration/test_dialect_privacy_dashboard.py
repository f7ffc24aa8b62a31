"""Privacy-dashboard style through a running embedded server: the reference document's own curl
examples (004_577e032dac9a9ccf.txt) with a registered website, then the rows read back."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.helpers import CHROME_WINDOWS
from tests.integration.server import Server, wait_for

ADMIN = "admin-token-for-tests"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("privacy") / "data"
    running = Server(data_dir, env={"TRACKHOUSE_ADMIN_TOKEN": ADMIN}).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def website(server):
    body = {"name": "My Website", "domain": "example.com", "description": "My example website"}
    response = httpx.post(f"{server.url}/api/v1/websites", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def with_code(event, website):
    return {**event, "trackingCode": website["trackingCode"]}


def events_of(server, website, count, headers=ADMIN_HEADERS, **params):
    def ready():
        response = httpx.get(
            f"{server.url}/api/v1/events",
            params={"trackingCode": website["trackingCode"], **params},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return len(body["events"]) >= count and body

    body = wait_for(ready, 30)
    assert body, f"fewer than {count} events"
    return body


def test_website_registration(server, website):
    assert re.fullmatch(r"pm-[a-z0-9]+-\d{13}", website["trackingCode"])
    assert (website["name"], website["domain"]) == ("My Website", "example.com")
    assert website["id"].startswith("web_") and website["secretKey"].startswith("ths_")
    url = f"{server.url}/api/v1/websites"
    body = {"name": "x", "domain": "x.test"}
    assert httpx.post(url, json=body).status_code == 401
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    invalid = httpx.post(url, json={"name": "x"}, headers=ADMIN_HEADERS)
    assert invalid.status_code == 400
    assert invalid.json()["details"]["fieldErrors"] == {"domain": ["Required"]}


def test_curl_examples_single_batch_and_reads(server, website):
    single = {
        "trackingCode": "pm-abc123-1704067200000",
        "eventType": "pageview",
        "url": "https://example.com/blog/article-1",
        "referrer": "https://google.com",
        "sessionId": "sess-user123-session1",
        "visitorId": "vis-user123",
        "deviceType": "desktop",
        "browser": "Chrome",
        "os": "Windows",
        "location": "US",
    }
    unknown = httpx.post(f"{server.url}/api/v1/events", json=single)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "NOT_FOUND",
        "message": "Website with this tracking code not found",
    }
    response = httpx.post(f"{server.url}/api/v1/events", json=with_code(single, website))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["websiteId"] == website["id"]
    assert {k: created[k] for k in ("eventType", "sessionId", "visitorId", "location")} == {
        "eventType": "pageview",
        "sessionId": "sess-user123-session1",
        "visitorId": "vis-user123",
        "location": "US",
    }
    assert created["createdAt"].endswith("Z")

    batch = [
        {"trackingCode": "pm-abc123-1704067200000", "eventType": "pageview",
         "url": "https://example.com/page1", "sessionId": "sess-123", "visitorId": "vis-123",
         "deviceType": "desktop", "browser": "Chrome", "os": "Windows"},
        {"trackingCode": "pm-abc123-1704067200000", "eventType": "pageview",
         "url": "https://example.com/page2", "sessionId": "sess-123", "visitorId": "vis-123",
         "deviceType": "desktop", "browser": "Chrome", "os": "Windows"},
        {"trackingCode": "pm-abc123-1704067200000", "eventType": "click",
         "url": "https://example.com/page2", "sessionId": "sess-123", "visitorId": "vis-123",
         "deviceType": "desktop", "browser": "Chrome",
         "properties": {"buttonId": "subscribe-btn"}},
    ]  # fmt: skip
    batch = [with_code(e, website) for e in batch]
    response = httpx.post(f"{server.url}/api/v1/events/batch", json={"events": batch})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["success"], body["eventsCreated"]) == (True, 3)
    assert body["message"] == "Successfully created 3 events"
    assert [e["eventType"] for e in body["events"]] == ["pageview", "pageview", "click"]

    listed = events_of(server, website, 4)
    assert listed["pagination"] == {"total": 4, "limit": 100, "offset": 0}
    by_id = {e["id"]: e for e in listed["events"]}
    first = by_id[created["id"]]
    assert first["sessionId"] == "sess-user123-session1" and first["visitorId"] == "vis-user123"
    assert (first["url"], first["referrer"]) == (
        "https://example.com/blog/article-1",
        "https://google.com",
    )
    assert (first["browser"], first["os"], first["deviceType"]) == ("Chrome", "Windows", "desktop")
    # Client-sent sessionId is kept as the stored session, and its session row exists.
    assert {e["sessionId"] for e in listed["events"]} == {"sess-user123-session1", "sess-123"}

    pageviews = events_of(server, website, 2, eventType="pageview", limit=2, offset=0)
    assert pageviews["pagination"] == {"total": 3, "limit": 2, "offset": 0}
    assert len(pageviews["events"]) == 2
    assert all(e["eventType"] == "pageview" for e in pageviews["events"])

    click_id = body["events"][2]["id"]
    one = httpx.get(f"{server.url}/api/v1/events/{click_id}", headers=ADMIN_HEADERS)
    assert one.status_code == 200, one.text
    assert one.json()["properties"] == {"buttonId": "subscribe-btn"}
    assert one.json()["websiteId"] == website["id"]
    assert one.json()["location"] is None  # not declared, and no geo for 127.0.0.1
    # The project's secret key reads too; a write key does not.
    secret = {"X-API-Key": website["secretKey"]}
    assert events_of(server, website, 4, headers=secret)["pagination"]["total"] == 4
    write = {"X-API-Key": website["writeKey"]}
    forbidden = httpx.get(
        f"{server.url}/api/v1/events",
        params={"trackingCode": website["trackingCode"]},
        headers=write,
    )
    assert forbidden.status_code == 403

    def session_row():
        response = httpx.get(
            f"{server.url}/v1/sessions", params={"session_id": "sess-123"}, headers=secret
        )
        sessions = response.json()["sessions"]
        return sessions and sessions[0]["events"] == 3 and sessions[0]

    session = wait_for(session_row, 30)
    assert session, "no sessions row for the client-kept sessionId"
    assert (session["visitor_id"], session["pageviews"]) == ("vis-123", 2)


def test_enrichment_fills_what_the_client_did_not_declare(server, website):
    event = {"eventType": "custom", "url": "https://example.com/x", "sessionId": "s-enrich",
             "visitorId": "v-enrich", "properties": {"plan": "pro"}}  # fmt: skip
    headers = {"User-Agent": CHROME_WINDOWS, "X-Forwarded-For": "81.2.69.142"}
    response = httpx.post(
        f"{server.url}/api/v1/events", json=with_code(event, website), headers=headers
    )
    assert response.status_code == 201
    customs = events_of(server, website, 1, eventType="custom")["events"]
    [row] = [e for e in customs if e["sessionId"] == "s-enrich"]
    assert (row["browser"], row["os"], row["deviceType"], row["location"]) == (
        "Chrome",
        "Windows",
        "desktop",
        "GB",
    )


def test_validation_errors_and_partial_batches(server, website):
    bad = {"trackingCode": "abc", "eventType": "hover", "url": "not a url", "visitorId": "v"}
    response = httpx.post(f"{server.url}/api/v1/events", json=bad)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["message"]) == ("VALIDATION_ERROR", "Invalid event data")
    errors = body["details"]["fieldErrors"]
    assert errors["trackingCode"] == ["Invalid tracking code format"]
    assert errors["sessionId"] == ["Required"]
    assert errors["url"] == ["Invalid url"]
    assert "eventType" in errors

    good = with_code({"eventType": "pageview", "url": "https://example.com/p",
                      "sessionId": "s-207", "visitorId": "v-207"}, website)  # fmt: skip
    missing_site = {**good, "trackingCode": "pm-zzz-1704067200000"}
    response = httpx.post(
        f"{server.url}/api/v1/events/batch", json={"events": [good, missing_site, {"url": 1}]}
    )
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["success"], body["eventsCreated"]) == (False, 1)
    assert body["message"] == "Created 1 events with 2 errors"
    assert body["errors"][0] == {
        "index": 1,
        "error": "NOT_FOUND",
        "message": 'Website with tracking code "pm-zzz-1704067200000" not found',
    }
    assert body["errors"][1]["index"] == 2
    assert body["errors"][1]["error"] == "VALIDATION_ERROR"
    too_many = httpx.get(
        f"{server.url}/api/v1/events",
        params={"trackingCode": website["trackingCode"], "limit": 1001},
        headers=ADMIN_HEADERS,
    )
    assert too_many.status_code == 400
    assert "limit" in too_many.json()["details"]["fieldErrors"]


def test_the_documents_partial_batch_example(server, website):
    """Issue 18: the document's 207 example — an item with ``trackingCode: "invalid"`` — answers
    that item ``NOT_FOUND`` with the documented message (before: ``VALIDATION_ERROR``, "Invalid
    tracking code format")."""
    good = with_code({"eventType": "pageview", "url": "https://example.com/page1",
                      "sessionId": "sess-123", "visitorId": "vis-123", "deviceType": "desktop",
                      "browser": "Chrome"}, website)  # fmt: skip
    invalid = {**good, "eventType": "click", "trackingCode": "invalid"}
    response = httpx.post(f"{server.url}/api/v1/events/batch", json={"events": [good, invalid]})
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["success"], body["eventsCreated"]) == (False, 1)
    assert body["errors"] == [
        {"index": 1, "error": "NOT_FOUND",
         "message": 'Website with tracking code "invalid" not found'},
    ]  # fmt: skip
    assert body["message"] == "Created 1 events with 1 errors"
    # Other bad fields beside the code are still a VALIDATION_ERROR.
    both = {**invalid, "url": "not a url"}
    response = httpx.post(f"{server.url}/api/v1/events/batch", json={"events": [good, both]})
    assert response.json()["errors"][0]["error"] == "VALIDATION_ERROR"


def test_a_batch_without_a_valid_event_is_an_error(server, website):
    """Issue 18: a batch where no event is valid is not a ``207`` with ``eventsCreated: 0``:
    it is the lowest status of its items (400 validation, 404 no such website) in the
    document's error shape, with each item's error under ``details.errors``."""
    good = with_code({"eventType": "pageview", "url": "https://example.com/p",
                      "sessionId": "s-1", "visitorId": "v-1"}, website)  # fmt: skip
    unknown = {**good, "trackingCode": "pm-nope-1704067200000"}
    url = f"{server.url}/api/v1/events/batch"
    not_found = httpx.post(url, json={"events": [unknown, {**good, "trackingCode": "invalid"}]})
    assert not_found.status_code == 404, not_found.text
    body = not_found.json()
    assert body["error"] == "NOT_FOUND" and body["message"] == "No events created: 2 errors"
    assert [e["index"] for e in body["details"]["errors"]] == [0, 1]
    mixed = httpx.post(url, json={"events": [unknown, {"url": 1}]})
    assert mixed.status_code == 400, mixed.text
    assert mixed.json()["error"] == "VALIDATION_ERROR"
    assert [e["error"] for e in mixed.json()["details"]["errors"]] == [
        "NOT_FOUND", "VALIDATION_ERROR",
    ]  # fmt: skip


def test_errors_in_the_documents_shape(server, website):
    """Issue 18: every error of these routes, ``401`` included, is ``{error: CODE, message}``
    (the document's shape), never the native ``{error, message, field}``."""
    code = website["trackingCode"]
    answers = {
        "read without a key": httpx.get(f"{server.url}/api/v1/events",
                                        params={"trackingCode": code}),
        "read with a wrong key": httpx.get(f"{server.url}/api/v1/events",
                                           params={"trackingCode": code},
                                           headers={"X-API-Key": "ths_nope"}),
        "one event without a key": httpx.get(f"{server.url}/api/v1/events/some-id"),
        "a wrong admin token": httpx.post(f"{server.url}/api/v1/websites", json={},
                                          headers={"Authorization": "Bearer nope"}),
        "a method not allowed": httpx.put(f"{server.url}/api/v1/events", json={}),
        "a write key reading": httpx.get(f"{server.url}/api/v1/events",
                                         params={"trackingCode": code},
                                         headers={"X-API-Key": website["writeKey"]}),
    }  # fmt: skip
    expected = {"read without a key": 401, "read with a wrong key": 401,
                "one event without a key": 401, "a wrong admin token": 401,
                "a method not allowed": 405, "a write key reading": 403}  # fmt: skip
    for what, response in answers.items():
        assert response.status_code == expected[what], (what, response.text)
        body = response.json()
        assert set(body) == {"error", "message"}, (what, body)
        assert body["error"].isupper() and body["message"], (what, body)
