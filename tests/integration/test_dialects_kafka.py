"""The three dialects in Kafka mode (``trackhouse worker``: edge -> Kafka -> Faust stages ->
ClickHouse): the typed revenue/duration columns, client-kept sessions and visitor stitching
survive the topics exactly as in the embedded runtime."""

from __future__ import annotations

import uuid

import httpx
import pytest
from posthog import Posthog

from tests.integration.helpers import key_headers, read_headers, wait_rows
from tests.integration.kafka_worker import start_worker, worker_env
from tests.integration.server import cli, wait_for

pytestmark = pytest.mark.slow
ADMIN = "kafka-admin-token"


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("dialects-kafka") / "data"
    project = cli(data_dir, "projects", "create", "dialects")
    running = start_worker(data_dir, worker_env(kafka, TRACKHOUSE_ADMIN_TOKEN=ADMIN))
    running.projects = (project,)
    yield running
    assert running.stop() == 0, running.log()


def test_dialects_through_kafka(worker):
    project = worker.projects[0]
    user = f"usr_{uuid.uuid4().hex[:8]}"
    visitor = f"vis_{uuid.uuid4().hex[:8]}"
    kitbase = {"events": [
        {"amount": 19.5, "currency": "EUR", "orderId": "o_k", "productId": "p_k",
         "user_id": user},
        {"channel": "conversions", "event": "Checkout Flow", "tags": {"$duration": 1200},
         "user_id": user},
    ]}  # fmt: skip
    response = httpx.post(
        f"{worker.url}/sdk/v1/logs/batch", json=kitbase, headers=key_headers(project)
    )
    assert response.json() == {"accepted": 2, "total": 2}, response.text
    collect = httpx.post(
        f"{worker.url}/v1/analytics/collect",
        json={"batch": [{"event": "pricing_viewed", "visitorId": visitor}]},
        headers={"X-AscendKit-Public-Key": project["write_key"]},
    )
    assert collect.status_code == 202, collect.text
    server = httpx.post(
        f"{worker.url}/api/v1/events",
        json={"batch": [{"event": "app.checkout.completed", "userId": user,
                         "context": {"visitorId": visitor}}]},
        headers={"X-AscendKit-Secret-Key": project["secret_key"]},
    )  # fmt: skip
    assert server.status_code == 202, server.text

    rows = {r["event"]: r for r in wait_rows(worker, project, 4, user_id=user, timeout=60)}
    assert (rows["revenue"]["revenue_amount"], rows["revenue"]["order_id"]) == (19.5, "o_k")
    assert rows["revenue"]["channel"] == "__analytics"
    assert rows["Checkout Flow"]["duration_ms"] == 1200
    assert rows["pricing_viewed"]["visitor_id"] == visitor  # stitched to the user

    site = httpx.post(
        f"{worker.url}/api/v1/websites",
        json={"name": "Kafka site", "domain": "kafka.test", "projectId": project["project_id"]},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json()
    events = [
        {"trackingCode": site["trackingCode"], "eventType": kind, "url": "https://kafka.test/",
         "sessionId": "sess-kafka", "visitorId": "vis-kafka", "timestamp": ts}
        for kind, ts in (("pageview", 1_767_225_600_000), ("click", 1_767_232_800_000))
    ]  # 2 hours apart: one client-kept session all the same  # fmt: skip
    created = httpx.post(f"{worker.url}/api/v1/events/batch", json={"events": events})
    assert created.status_code == 201, created.text

    def session():
        found = httpx.get(
            f"{worker.url}/v1/sessions",
            params={"session_id": "sess-kafka"},
            headers=read_headers(project),
        ).json()["sessions"]
        return found and found[0]["events"] == 2 and found[0]

    row = wait_for(session, 60)
    assert row, "no sessions row for the client-kept session"
    assert (row["visitor_id"], row["pageviews"], row["duration_ms"]) == (
        "vis-kafka",
        1,
        2 * 3600 * 1000,
    )


def test_segment_and_posthog_through_kafka(worker):
    """Segment's alias/identify and PostHog's ``$identify`` stitch through the Faust stages;
    a PostHog merge on an illegal id leaves a warning row, as in the embedded runtime."""
    project = worker.projects[0]
    run = uuid.uuid4().hex[:8]
    segment_user, posthog_user = f"seg_{run}", f"ph_{run}"
    anonymous = f"anon_{run}"
    batch = {"batch": [
        {"type": "track", "anonymousId": anonymous, "event": "Signup Started",
         "messageId": f"m1-{run}", "properties": {"plan": "pro"}},
        {"type": "identify", "anonymousId": anonymous, "userId": segment_user,
         "messageId": f"m2-{run}", "traits": {"email": "a@example.com"}},
    ]}  # fmt: skip
    response = httpx.post(f"{worker.url}/v1/batch", json=batch, auth=(project["write_key"], ""))
    assert response.json() == {"success": True}, response.text
    capture = {"api_key": project["write_key"], "batch": [
        {"event": "$pageview", "distinct_id": f"ph_anon_{run}",
         "properties": {"$current_url": "https://ph.test/pricing?utm_source=ads",
                        "$device_id": f"ph_anon_{run}"}},  # anonymous, as posthog-js sends
        {"event": "$identify", "distinct_id": posthog_user,
         "properties": {"$anon_distinct_id": f"ph_anon_{run}"}},
        {"event": "$identify", "distinct_id": f"ph_other_{run}",
         "properties": {"$anon_distinct_id": "anonymous"}},
    ]}  # fmt: skip
    response = httpx.post(f"{worker.url}/batch", json=capture)
    assert response.json() == {"status": 1}, response.text

    segment_rows = wait_rows(worker, project, 2, user_id=segment_user, timeout=60)
    signup = next(r for r in segment_rows if r["event"] == "Signup Started")
    assert signup["visitor_id"] == anonymous  # the earlier anonymous event resolves to the user
    posthog_rows = wait_rows(worker, project, 2, user_id=posthog_user, timeout=60)
    pageview = next(r for r in posthog_rows if r["event"] == "$pageview")
    assert (pageview["path"], pageview["utm_source"]) == ("/pricing", "ads")
    warnings = httpx.get(
        f"{worker.url}/v1/ingestion_warnings",
        params={"source": "posthog"},
        headers=read_headers(project),
    ).json()["warnings"]
    assert any(w["details"].get("otherDistinctId") == f"ph_other_{run}" for w in warnings)


def test_new_dialect_paths_through_kafka(worker):
    """Issue 18's server-side paths in Kafka mode: KISSmetrics pixels (record, alias) stitch the
    person, AscendKit's signed-in events on ``/v1/events`` (public key), Segment analytics.js'
    own ``/v1/t`` route, and Kitbase's page context (``__path``/``__utm_*``) and ``$duration``
    on the native route."""
    project = worker.projects[0]
    run = uuid.uuid4().hex[:8]
    person, email = f"km_{run}", f"km_{run}@example.com"
    for path, params in (
        ("/e", {"_k": project["write_key"], "_p": person, "_n": "Visited Site", "plan": "pro"}),
        ("/a", {"_k": project["write_key"], "_p": person, "_n": email}),
    ):
        pixel = httpx.get(f"{worker.url}{path}", params=params)
        assert pixel.status_code == 200 and pixel.content.startswith(b"GIF89a"), pixel.text
    ascend_user, visitor = f"usr_{run}", f"vis_{run}"
    signed_in = httpx.post(
        f"{worker.url}/v1/events",
        json={"batch": [{"event": "app.checkout.completed", "userId": ascend_user,
                         "visitorId": visitor, "properties": {"total": 9}}]},
        headers={"X-AscendKit-Public-Key": project["write_key"]},
    )  # fmt: skip
    assert signed_in.status_code == 202, signed_in.text
    segment_user = f"seg_{run}"
    track = httpx.post(
        f"{worker.url}/v1/t",
        json={"type": "track", "event": "Clicked", "userId": segment_user,
              "writeKey": project["write_key"], "messageId": f"t-{run}"},
    )  # fmt: skip
    assert track.status_code == 200, track.text
    native = httpx.post(
        f"{worker.url}/v1/events",
        json={"event": "Timed", "user_id": segment_user, "properties": {"$duration": 750}},
        headers=key_headers(project),
    )
    assert native.status_code == 202, native.text

    kiss = {r["event"]: r for r in wait_rows(worker, project, 3, user_id=email, timeout=60)}
    assert kiss["Visited Site"]["visitor_id"] == person  # the anonymous record reads as the user
    assert kiss["Visited Site"]["properties"] == {"plan": "pro"}
    [checkout] = wait_rows(worker, project, 1, user_id=ascend_user, timeout=60)
    assert (checkout["event"], checkout["visitor_id"]) == ("app.checkout.completed", visitor)
    segment = {r["event"]: r for r in wait_rows(worker, project, 2, user_id=segment_user)}
    assert set(segment) == {"Clicked", "Timed"}
    assert segment["Timed"]["duration_ms"] == 750


def test_posthog_python_client_identify_merges_through_kafka(worker):
    """Issue 18 in the Kafka runtime: with the real ``posthog`` client, ``anon_X``'s pageview
    (before the ``$identify``) and later events read as ``usr_Y``, as do ``usr_Y``'s own."""
    project = worker.projects[0]
    run = uuid.uuid4().hex[:8]
    anon, user = f"anon_{run}", f"usr_{run}"
    client = Posthog(project["write_key"], host=worker.url, sync_mode=True)
    client.capture("$pageview", distinct_id=anon, properties={"$current_url": "https://k.test/a"})
    client.capture("server side", distinct_id=user)
    client.capture("$identify", distinct_id=user, properties={"$anon_distinct_id": anon})
    client.capture("after", distinct_id=anon)
    client.alias(previous_id=f"old_{run}", distinct_id=user)
    client.capture("old id", distinct_id=f"old_{run}")
    client.shutdown()
    rows = wait_rows(worker, project, 6, user_id=user, timeout=60)
    assert sorted(r["event"] for r in rows) == [
        "$create_alias", "$identify", "$pageview", "after", "old id", "server side"
    ]  # fmt: skip
    assert next(r for r in rows if r["event"] == "$pageview")["path"] == "/a"
