"""The three dialects in Kafka mode (``trackhouse worker``: edge -> Kafka -> Faust stages ->
ClickHouse): the typed revenue/duration columns, client-kept sessions and visitor stitching
survive the topics exactly as in the embedded runtime."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.server import cli, wait_for
from tests.integration.test_embedded_e2e import key_headers, read_headers, wait_rows
from tests.integration.test_kafka_worker import start_worker, worker_env

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
