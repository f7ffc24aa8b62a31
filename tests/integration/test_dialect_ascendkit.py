"""AscendKit-style analytics through a running embedded server: the reference document's
examples (003_0c7346c580ee89d8.txt) — anonymous ``vis_`` visitors, then sign-up, server events
sent by the real ``ascendkit`` Python client, sign-out — read back with the visitor stitched."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
from ascendkit import Analytics

from tests.integration.helpers import CHROME_WINDOWS, fetch, read_headers, wait_rows
from tests.integration.server import Server, cli


def public(project):
    return {"X-AscendKit-Public-Key": project["write_key"], "User-Agent": CHROME_WINDOWS}


def test_visitor_to_user_journey(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex[:12]}"
    user = f"usr_{uuid.uuid4().hex[:8]}"
    context = {
        "url": "https://app.test/?utm_source=newsletter&utm_campaign=launch",
        "referrer": "https://www.google.com/",
        "userAgent": CHROME_WINDOWS,
        "locale": "en-GB",
        "screen": {"width": 1440, "height": 900},
    }
    batch = [
        {"event": "pageview", "visitorId": visitor, "context": context},
        {"event": "cta_clicked", "visitorId": visitor, "properties": {"location": "hero"},
         "context": context},
        {"event": "pricing_viewed", "visitorId": visitor, "properties": {"plan": "pro"},
         "context": context},
        {"event": "docs_searched", "visitorId": visitor, "properties": {"query": "auth setup"},
         "context": context},
    ]  # fmt: skip
    response = httpx.post(
        f"{embedded.url}/v1/analytics/collect", json={"batch": batch}, headers=public(project)
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 4, "total": 4, "errors": []}

    signup = httpx.post(
        f"{embedded.url}/v1/analytics/identify",
        json={"userId": user, "visitorId": visitor, "signup": True, "traits": {"plan": "pro"}},
        headers=read_headers(project),
    )
    assert signup.status_code == 202, signup.text
    assert signup.json() == {"recorded": ["identify", "user.created"]}

    # The real server client, as the document shows it (it prefixes "app.").
    analytics = Analytics(project["secret_key"], api_url=embedded.url, flush_interval=3600)
    analytics.track(user, "checkout.completed", {"total": 99.99}, visitor_id=visitor)
    analytics.track(user, "onboarding.step_completed", {"step": 2, "stepName": "invite_team"})
    analytics.shutdown()

    signout = httpx.post(
        f"{embedded.url}/v1/analytics/signout",
        json={"userId": user},
        headers=read_headers(project),
    )
    assert signout.json() == {"recorded": ["user.signout"]}

    rows = {r["event"]: r for r in wait_rows(embedded, project, 9, user_id=user)}
    assert set(rows) == {
        "pageview", "cta_clicked", "pricing_viewed", "docs_searched", "identify",
        "user.created", "app.checkout.completed", "app.onboarding.step_completed",
        "user.signout",
    }  # fmt: skip
    # Pre-signup events are stitched retroactively to the user.
    assert rows["docs_searched"]["visitor_id"] == visitor
    assert rows["docs_searched"]["properties"] == {"query": "auth setup"}
    page = rows["pageview"]
    assert page["type"] == "page"
    assert (page["browser"], page["os"], page["locale"], page["screen"]) == (
        "Chrome",
        "Windows",
        "en-GB",
        "1440x900",
    )
    assert (page["utm_source"], page["referrer_domain"]) == ("newsletter", "google.com")
    checkout = rows["app.checkout.completed"]
    assert checkout["properties"] == {"total": 99.99}
    assert checkout["visitor_id"] == visitor
    assert rows["app.onboarding.step_completed"]["properties"]["stepName"] == "invite_team"


def test_errors(embedded):
    project = embedded.projects[0]
    url = f"{embedded.url}/v1/analytics/collect"
    not_vis = httpx.post(url, json={"event": "x", "visitorId": "abc"}, headers=public(project))
    assert not_vis.status_code == 422 and not_vis.json()["field"] == "visitorId"
    named = httpx.post(
        url, json={"event": "x", "visitorId": "vis_1", "userId": "usr_1"}, headers=public(project)
    )
    assert named.status_code == 422 and named.json()["field"] == "userId"
    assert httpx.post(url, json={"event": "x", "visitorId": "vis_1"}).status_code == 401
    # The server SDK's endpoint needs the secret key: a write key is refused.
    server = httpx.post(
        f"{embedded.url}/api/v1/events",
        json={"batch": [{"event": "app.x", "userId": "usr_1"}]},
        headers={"X-AscendKit-Secret-Key": project["write_key"]},
    )
    assert server.status_code == 403
    missing = httpx.post(
        f"{embedded.url}/api/v1/events",
        json={"batch": [{"event": "app.x", "userId": "usr_1"}, {"event": "app.y"}]},
        headers={"X-AscendKit-Secret-Key": project["secret_key"]},
    )
    assert missing.status_code == 202
    assert missing.json()["errors"][0]["field"] == "batch[1].userId"


def test_signed_in_browser_events_on_v1_events(embedded):
    """Issue 18: the document's SDK sends a signed-in user's (``usr_``) events to
    ``/v1/events``, the native route: told apart by the AscendKit headers (before: ``401`` for
    the public key, ``422`` for its ``{batch: [...]}`` body). The native API is unchanged."""
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex[:12]}"
    user = f"usr_{uuid.uuid4().hex[:8]}"
    context = {"url": "https://app.test/billing?utm_source=mail", "userAgent": CHROME_WINDOWS,
               "locale": "en-GB", "visitorId": visitor}  # fmt: skip
    batch = [
        {"event": "app.checkout.completed", "userId": user, "visitorId": visitor,
         "properties": {"total": 99.99, "plan": "pro"}, "context": context},
        {"event": "app.onboarding.step_completed", "userId": user,
         "properties": {"step": 2}, "context": context},
    ]  # fmt: skip
    response = httpx.post(f"{embedded.url}/v1/events", json={"batch": batch},
                          headers=public(project))  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2, "total": 2, "errors": []}
    one = {"event": "app.settings.saved", "userId": user, "context": context}
    assert httpx.post(f"{embedded.url}/v1/events", json=one,
                      headers=public(project)).status_code == 202  # fmt: skip
    # The secret key (a backend) works on this path too, as on /api/v1/events.
    server = httpx.post(
        f"{embedded.url}/v1/events",
        json={"batch": [{"event": "app.invoice.paid", "userId": user}]},
        headers={"X-AscendKit-Secret-Key": project["secret_key"]},
    )
    assert server.status_code == 202, server.text

    rows = {r["event"]: r for r in wait_rows(embedded, project, 4, user_id=user)}
    checkout = rows["app.checkout.completed"]
    assert checkout["properties"] == {"total": 99.99, "plan": "pro"}
    assert (checkout["visitor_id"], checkout["browser"], checkout["utm_source"]) == (
        visitor, "Chrome", "mail",
    )  # fmt: skip
    assert rows["app.onboarding.step_completed"]["visitor_id"] == visitor  # from the context
    assert rows["app.invoice.paid"]["browser"] == ""  # a backend's request enriches nothing

    # A signed-in event names its user; a bad key is the native 401.
    anonymous = httpx.post(f"{embedded.url}/v1/events", json={"event": "app.x"},
                           headers=public(project))  # fmt: skip
    assert anonymous.status_code == 400 and anonymous.json()["field"] == "userId"
    bad_key = httpx.post(f"{embedded.url}/v1/events", json=one,
                         headers={"X-AscendKit-Public-Key": "thw_nope"})  # fmt: skip
    assert bad_key.status_code == 401 and bad_key.json()["error"] == "unauthorized"
    native = httpx.post(f"{embedded.url}/v1/events", json={"event": "n", "user_id": user},
                        headers=read_headers(project))  # fmt: skip
    assert native.status_code == 202 and set(native.json()) == {"id", "event", "timestamp"}


def test_waitlist_built_in_events(embedded):
    """Issue 18: ``user.waitlisted`` and ``user.waitlist_approved`` are recorded like the other
    built-in events (before: no way to record them: 404)."""
    project = embedded.projects[0]
    user = f"usr_{uuid.uuid4().hex[:8]}"
    waitlisted = httpx.post(f"{embedded.url}/v1/analytics/waitlist", json={"userId": user},
                            headers=read_headers(project))  # fmt: skip
    assert waitlisted.status_code == 202, waitlisted.text
    assert waitlisted.json() == {"recorded": ["user.waitlisted"]}
    approved = httpx.post(f"{embedded.url}/v1/analytics/waitlist/approve",
                          json={"userId": user}, headers=read_headers(project))  # fmt: skip
    assert approved.json() == {"recorded": ["user.waitlist_approved"]}
    rows = wait_rows(embedded, project, 2, user_id=user)
    assert sorted(r["event"] for r in rows) == ["user.waitlist_approved", "user.waitlisted"]
    missing = httpx.post(f"{embedded.url}/v1/analytics/waitlist", json={},
                         headers=read_headers(project))  # fmt: skip
    assert missing.status_code == 400 and missing.json()["field"] == "userId"
    write_key = httpx.post(f"{embedded.url}/v1/analytics/waitlist", json={"userId": user},
                           headers={"X-AscendKit-Secret-Key": project["write_key"]})  # fmt: skip
    assert write_key.status_code == 403


def test_pre_signup_sessions_read_as_the_users(embedded):
    """Issue 18: "all pre-signup pageviews and sessions are retroactively linked": a visitor's
    sessions before signup read as the user's (before: events did, sessions kept
    ``user_id ''`` and ``GET /v1/sessions?user_id=`` missed them). Rows are not rewritten."""
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex[:12]}"
    user = f"usr_{uuid.uuid4().hex[:8]}"
    early = int(time.time() * 1000) - 3 * 3600 * 1000  # a visit three hours before signup
    visit = [
        {"event": "pageview", "visitorId": visitor, "timestamp": early + i * 1000,
         "context": {"url": f"https://app.test/p{i}"}}
        for i in range(2)
    ]  # fmt: skip
    response = httpx.post(f"{embedded.url}/v1/analytics/collect", json={"batch": visit},
                          headers=public(project))  # fmt: skip
    assert response.status_code == 202, response.text
    [before] = wait_rows(embedded, project, 1, "/v1/sessions", visitor_id=visitor)
    assert before["user_id"] == ""  # anonymous so far

    signup = httpx.post(
        f"{embedded.url}/v1/analytics/identify",
        json={"userId": user, "visitorId": visitor, "signup": True},
        headers=read_headers(project),
    )
    assert signup.status_code == 202, signup.text
    sessions = wait_rows(embedded, project, 2, "/v1/sessions", user_id=user)
    assert {s["user_id"] for s in sessions} == {user}
    pre = [s for s in sessions if s["session_id"] == before["session_id"]]
    assert pre and pre[0]["pageviews"] == 2
    by_visitor = fetch(embedded, project, "/v1/sessions", visitor_id=visitor)["sessions"]
    assert {s["user_id"] for s in by_visitor} == {user}


def test_a_login_without_traits_keeps_the_users_traits(tmp_path):
    """Issue 18: signup with traits, then a login without any: the user's traits stay (before:
    the login's empty traits were the latest identify's, and wiped them)."""
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "traits")
    server = Server(data_dir).start()
    identify = f"{server.url}/v1/analytics/identify"
    now = int(time.time() * 1000)
    try:
        signup = {"userId": "usr_t", "signup": True, "traits": {"plan": "pro"}, "timestamp": now}
        assert httpx.post(identify, json=signup, headers=read_headers(project)).status_code == 202
        login = {"userId": "usr_t", "timestamp": now + 60_000}
        answer = httpx.post(identify, json=login, headers=read_headers(project))
        assert answer.json() == {"recorded": ["identify", "user.login"]}
        wait_rows(server, project, 4, user_id="usr_t")
    finally:
        assert server.stop() == 0, server.log()  # (drains: the users rows are written)
    sql = "SELECT traits, last_seen FROM trackhouse.users_current WHERE user_id = 'usr_t'"
    [[traits, last_seen]] = cli(data_dir, "sql", sql)["rows"]
    assert traits == '{"plan":"pro"}'
    seen = datetime.fromisoformat(str(last_seen)).replace(tzinfo=UTC)
    assert int(seen.timestamp() * 1000) == now + 60_000  # the login still counts as seen
