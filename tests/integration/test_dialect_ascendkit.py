"""AscendKit-style analytics through a running embedded server: the reference document's
examples (003_0c7346c580ee89d8.txt) — anonymous ``vis_`` visitors, then sign-up, server events
sent by the real ``ascendkit`` Python client, sign-out — read back with the visitor stitched."""

from __future__ import annotations

import uuid

import httpx
from ascendkit import Analytics

from tests.integration.test_embedded_e2e import CHROME_WINDOWS, read_headers, wait_rows


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
