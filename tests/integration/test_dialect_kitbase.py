"""Kitbase-style logs through a running embedded server: the reference document's own examples
(000_d2fca30605501c75.txt), then the rows read back from ClickHouse."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.helpers import CHROME_WINDOWS, key_headers, read_headers
from tests.integration.server import wait_for


def post(server, project, path, body, headers=None):
    return httpx.post(
        server.url + path, json=body, headers={**key_headers(project), **(headers or {})}
    )


def logs(server, project, count, **params):
    def ready():
        response = httpx.get(
            server.url + "/sdk/v1/logs", params=params, headers=read_headers(project)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return len(body["logs"]) >= count and body["logs"]

    found = wait_for(ready, 30)
    assert found, f"fewer than {count} logs for {params}"
    return found


def test_curl_single_event_and_batch_from_the_reference(embedded):
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex[:8]}"
    single = {
        "event": "Purchase Completed",
        "properties": {"channel": "payments", "tags": {"amount": 99.99}, "user_id": user},
    }
    response = post(embedded, project, "/sdk/v1/logs", single)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert set(answer) == {"id", "event", "timestamp"}
    assert answer["event"] == "Purchase Completed"
    assert answer["timestamp"].endswith("Z")

    batch = {
        "events": [
            {
                "event": "Page Viewed",
                "properties": {"channel": "analytics", "tags": {"path": "/pricing"},
                               "user_id": user},
            },
            {
                "event": "CTA Clicked",
                "properties": {"channel": "conversions", "tags": {"button": "signup"},
                               "user_id": user},
            },
        ]
    }  # fmt: skip
    response = post(embedded, project, "/sdk/v1/logs/batch", batch)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2, "total": 2}

    rows = {r["event"]: r for r in logs(embedded, project, 3, user_id=user)}
    assert rows["Purchase Completed"]["id"] == answer["id"]
    assert rows["Purchase Completed"]["channel"] == "payments"
    assert rows["Purchase Completed"]["tags"] == {"amount": 99.99}
    assert rows["Page Viewed"]["tags"] == {"path": "/pricing"}
    assert rows["CTA Clicked"]["channel"] == "conversions"
    only = logs(embedded, project, 1, user_id=user, channel="conversions")
    assert [r["event"] for r in only] == ["CTA Clicked"]


def test_track_options_notification_revenue_and_duration(embedded):
    """The SDK's flat TrackOptions, the notification example, trackRevenue, and $duration."""
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex[:8]}"
    events = [
        {"channel": "payments", "event": "Large Purchase", "icon": "💰", "notify": True,
         "description": "A customer just made a $500+ purchase", "tags": {"amount": 549.99},
         "user_id": user},
        {"amount": 99.99, "currency": "USD", "orderId": "order_123",
         "productId": "prod_premium", "tags": {"plan": "premium"}, "user_id": user},
        {"channel": "conversions", "event": "Checkout Flow",
         "tags": {"items": 3, "$duration": 45000}, "user_id": user},
    ]  # fmt: skip
    response = post(embedded, project, "/sdk/v1/logs/batch", {"events": events})
    assert response.json() == {"accepted": 3, "total": 3}, response.text
    rows = {r["event"]: r for r in logs(embedded, project, 3, user_id=user)}

    large = rows["Large Purchase"]
    assert (large["icon"], large["notify"], large["description"]) == (
        "💰",
        True,
        "A customer just made a $500+ purchase",
    )
    revenue = rows["revenue"]
    assert revenue["channel"] == "__analytics"
    assert revenue["revenue"] == {
        "amount": 99.99,
        "currency": "USD",
        "orderId": "order_123",
        "productId": "prod_premium",
    }
    assert revenue["tags"] == {"plan": "premium"}
    timed = rows["Checkout Flow"]
    assert timed["duration"] == 45000.0
    assert timed["tags"]["$duration"] == 45000
    # The typed columns are real ClickHouse columns (native read shows them too).
    native = httpx.get(
        embedded.url + "/v1/events",
        params={"user_id": user, "channel": "__analytics"},
        headers=read_headers(project),
    ).json()["events"]
    assert [(e["revenue_amount"], e["order_id"]) for e in native] == [(99.99, "order_123")]


def test_enrichment_under_kitbase_names_in_results_and_filters(embedded):
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex[:8]}"
    body = {"channel": "users", "event": "Signed Up", "user_id": user}
    headers = {"User-Agent": CHROME_WINDOWS, "X-Forwarded-For": "81.2.69.142"}
    assert post(embedded, project, "/sdk/v1/logs", body, headers).status_code == 202
    [row] = logs(embedded, project, 1, user_id=user, __browser="Chrome", __country="GB")
    assert (row["__browser"], row["__os"], row["__device"]) == ("Chrome", "Windows", "desktop")
    assert (row["__country"], row["__region"], row["__city"]) == ("GB", "England", "London")
    assert {"__path", "__referrer", "__utm_source", "__brand", "__model"} <= set(row)
    none = httpx.get(
        embedded.url + "/sdk/v1/logs",
        params={"user_id": user, "__browser": "Firefox"},
        headers=read_headers(project),
    ).json()
    assert none["logs"] == [] and none["pagination"]["total"] == 0
    bad = httpx.get(
        embedded.url + "/sdk/v1/logs", params={"__nope": "x"}, headers=read_headers(project)
    )
    assert bad.status_code == 400 and bad.json()["field"] == "__nope"


def test_errors_name_the_field(embedded):
    project = embedded.projects[0]
    nested = {"event": "X", "properties": {"channel": "c", "tags": {"meta": {"a": 1}}}}
    response = post(embedded, project, "/sdk/v1/logs", nested)
    assert response.status_code == 422
    assert response.json()["field"] == "properties.tags.meta"
    flat = {"channel": "c", "event": "X", "tags": {"list": [1, 2]}}
    assert post(embedded, project, "/sdk/v1/logs", flat).json()["field"] == "tags.list"
    missing = post(embedded, project, "/sdk/v1/logs", {"event": "X"})
    assert missing.status_code == 400 and missing.json()["field"] == "channel"
    bad_key = httpx.post(
        embedded.url + "/sdk/v1/logs", json=flat, headers={"X-API-Key": "thw_nope"}
    )
    assert bad_key.status_code == 401
    mixed = {"events": [{"channel": "c", "event": "ok", "user_id": "u1"},
                        {"channel": "c", "event": "bad", "tags": {"x": None}}]}  # fmt: skip
    response = post(embedded, project, "/sdk/v1/logs/batch", mixed)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["total"]) == (1, 2)
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == "tags.x"


def get_logs(server, project, **params):
    return httpx.get(server.url + "/sdk/v1/logs", params=params, headers=read_headers(project))


def test_page_and_utm_from_the_sdk_tags_else_the_referer_header(embedded):
    """Issue 18: ``__path``, ``__referrer`` and ``__utm_*`` come from what the request carries —
    the SDK's page context (its ``__path``/``__referrer``/``__utm_*`` tags), else the page in the
    ``Referer`` header — so UTM filters match (before: always empty)."""
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex[:8]}"
    sdk_page = {"channel": "__analytics", "event": "screen_view", "user_id": user,
                "tags": {"__path": "/pricing", "__title": "Pricing",
                         "__referrer": "https://www.google.com/", "__utm_source": "newsletter",
                         "__utm_campaign": "launch", "plan": "pro"}}  # fmt: skip
    assert post(embedded, project, "/sdk/v1/logs", sdk_page).status_code == 202
    tags = {"amount": 5}
    rest = {"event": "Purchase Completed",
            "properties": {"channel": "payments", "user_id": user, "tags": tags}}  # fmt: skip
    page = "https://shop.test/checkout?utm_source=ads&utm_medium=cpc&utm_campaign=spring"
    response = post(embedded, project, "/sdk/v1/logs", rest, {"Referer": page})
    assert response.status_code == 202, response.text

    [viewed] = logs(embedded, project, 1, user_id=user, __utm_source="newsletter")
    assert viewed["event"] == "screen_view"
    assert (viewed["__path"], viewed["__referrer"], viewed["__utm_campaign"]) == (
        "/pricing", "https://www.google.com/", "launch",
    )  # fmt: skip
    assert viewed["tags"] == {"plan": "pro"}  # the page context is columns, not tags
    [bought] = logs(embedded, project, 1, user_id=user, __utm_campaign="spring")
    assert bought["event"] == "Purchase Completed"
    assert (bought["__path"], bought["__utm_source"], bought["__utm_medium"]) == (
        "/checkout", "ads", "cpc",
    )  # fmt: skip
    assert get_logs(embedded, project, user_id=user, __utm_source="other").json()["logs"] == []


def test_every_documented_filter_and_400_for_an_unknown_one(embedded):
    """Issue 18: ``notify``, ``anonymous_id``, ``icon``, ``description`` filter (before: they
    were ignored and every log came back); an unknown filter is a 400 naming it."""
    project = embedded.projects[0]
    tag = uuid.uuid4().hex[:8]
    anonymous = f"anon_{tag}"
    events = [
        {"channel": f"c_{tag}", "event": "Large Purchase", "icon": "💰", "notify": True,
         "description": "big one", "anonymous_id": anonymous},
        {"channel": f"c_{tag}", "event": "Small Purchase", "anonymous_id": anonymous},
        {"channel": f"c_{tag}", "event": "Other Visitor", "anonymous_id": f"other_{tag}"},
    ]  # fmt: skip
    assert post(embedded, project, "/sdk/v1/logs/batch", {"events": events}).status_code == 202
    logs(embedded, project, 3, channel=f"c_{tag}")

    def names(**params):
        response = get_logs(embedded, project, channel=f"c_{tag}", **params)
        assert response.status_code == 200, response.text
        return sorted(r["event"] for r in response.json()["logs"])

    assert names(notify="true") == ["Large Purchase"]
    assert names(notify="false") == ["Other Visitor", "Small Purchase"]
    assert names(anonymous_id=anonymous) == ["Large Purchase", "Small Purchase"]
    assert names(icon="💰") == ["Large Purchase"]
    assert names(description="big one") == ["Large Purchase"]
    assert names(event="Small Purchase", anonymous_id=anonymous) == ["Small Purchase"]
    for unknown in ("colour", "tags", "anonymousId"):
        bad = get_logs(embedded, project, **{unknown: "x"})
        assert bad.status_code == 400, (unknown, bad.text)
        assert bad.json()["field"] == unknown and unknown in bad.json()["message"]
    flag = get_logs(embedded, project, notify="maybe")
    assert flag.status_code == 422 and flag.json()["field"] == "notify"


def test_duration_tag_fills_the_typed_duration_through_the_native_api(embedded):
    """Issue 18: the tracker's ``timeEvent`` sends ``$duration`` through ``POST /v1/events``;
    it fills the typed duration there too (before: only ``/sdk/v1/logs`` did)."""
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex[:8]}"
    event = {"event": "Checkout Flow", "channel": "conversions", "user_id": user,
             "properties": {"items": 3, "$duration": 45000}}  # fmt: skip
    response = httpx.post(embedded.url + "/v1/events", json=event, headers=key_headers(project))
    assert response.status_code == 202, response.text
    [row] = logs(embedded, project, 1, user_id=user)
    assert row["duration"] == 45000.0
