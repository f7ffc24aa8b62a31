"""Kitbase-style logs through a running embedded server: the reference document's own examples
(000_d2fca30605501c75.txt), then the rows read back from ClickHouse."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.server import wait_for
from tests.integration.test_embedded_e2e import CHROME_WINDOWS, key_headers, read_headers


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
    assert bad.status_code == 422 and bad.json()["field"] == "__nope"


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
