"""Erasure in Kafka mode: records a consumer gets again after ``users delete`` (it restarts from
its committed offsets) must not bring the user back."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.helpers import fetch, files_containing, post_batch
from tests.integration.kafka_worker import start_worker, worker_env
from tests.integration.server import cli, wait_for
from tests.kafka_broker import consume

pytestmark = pytest.mark.slow


async def redeliver(bootstrap: str, topic: str) -> int:
    """Send every record of ``topic`` again, as it was (partition, key, headers, timestamp):
    what a consumer restarting from older committed offsets reads."""
    records = await consume(bootstrap, topic, 1 << 30, timeout=5)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(
                topic, r.value, key=r.key, partition=r.partition, timestamp_ms=r.timestamp,
                headers=list(r.headers),
            )  # fmt: skip
    finally:
        await producer.stop()
    return len(records)


def erased_metric(url: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("trackhouse_events_erased_total "):
            return float(line.split()[-1])
    return 0.0


def test_redelivered_records_of_an_erased_user_are_dropped(kafka, tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "kafka-gdpr")
    run = uuid.uuid4().hex[:8]
    user, visitor, plan = f"u-{run}", f"vis_{run}", f"plan-{run}"
    now = int(time.time() * 1000)
    env = worker_env(kafka, TRACKHOUSE_ERASURE_RELOAD_SECONDS="1")
    worker = start_worker(data_dir, env)
    try:
        response = post_batch(worker, project, [
            {"event": "browse", "visitor_id": visitor, "timestamp": now - 3000},
            {"type": "identify", "visitor_id": visitor, "user_id": user, "timestamp": now - 2000,
             "traits": {"plan": plan}},
            {"event": "server_side", "user_id": user, "timestamp": now - 1000},
        ])  # fmt: skip
        assert response.status_code == 202, response.text
        assert wait_for(lambda: fetch(worker, project, user_id=user)["pagination"]["total"] == 3)
    finally:
        assert worker.stop() == 0, worker.log()

    erased = cli(data_dir, "users", "delete", user, "--project", project["project_id"])
    assert (erased["events"], erased["users"], erased["visitors"]) == (3, 1, 1), erased
    assert files_containing(data_dir / "clickhouse", user, plan) == []

    worker = start_worker(data_dir, env, port=worker.port)
    try:
        for name in ("raw", "enriched", "identities"):
            assert asyncio.run(redeliver(kafka, worker.topic(name))) > 0, name
        response = post_batch(worker, project, [
            {"event": "after", "visitor_id": f"new-{run}", "timestamp": now},
        ])  # fmt: skip
        assert response.status_code == 202
        assert wait_for(lambda: fetch(worker, project, event="after")["pagination"]["total"])
        # the raw events (process agent) and the enriched ones (sink) were dropped
        assert wait_for(lambda: erased_metric(worker.url) >= 6, 30), erased_metric(worker.url)
        assert fetch(worker, project, user_id=user)["pagination"]["total"] == 0
        assert fetch(worker, project, visitor_id=visitor)["pagination"]["total"] == 0
    finally:
        assert worker.stop() == 0, worker.log()
    users = cli(data_dir, "sql", f"SELECT count() FROM trackhouse.users WHERE user_id = '{user}'")
    assert users["rows"] == [[0]]
    # the worker deleted the visitors' state: a tombstone for each key on the changelog
    changelog = f"{env['TRACKHOUSE_FAUST_APP_ID']}-visitor-state-changelog"
    records = asyncio.run(consume(kafka, changelog, 1 << 30, timeout=5))
    deleted = {r.key for r in records if r.value is None}
    project_id = project["project_id"]
    assert {f"{project_id}\0{visitor}".encode(), f"{project_id}\0user:{user}".encode()} <= deleted
