"""Kafka mode on a real broker: the sink agent records each batch's pending deliveries with its
rows before acking, the worker's delivery thread sends them; a kill -9 of the worker between
store and delivery loses none."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import NOTIFY_ENV, Receiver, key_headers, wait_rows
from tests.integration.kafka_worker import start_worker, worker_env
from tests.integration.server import cli, wait_for

pytestmark = pytest.mark.slow


def test_the_kafka_worker_delivers_every_notify_event_across_a_kill_9(kafka, tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "kafka")
    receiver = Receiver(tmp_path, "s3cret")  # not started: the first deliveries wait
    cli(data_dir, "notify", "destinations", "add", project["project_id"], "--kind", "webhook",
        "--url", receiver.url, "--secret", "s3cret")  # fmt: skip
    env = worker_env(kafka, **NOTIFY_ENV)
    worker = start_worker(data_dir, env)
    ids = []
    for i in range(12):
        event = {"event": f"paid_{i}", "visitor_id": f"v{i}", "notify": i % 3 != 0}
        answer = httpx.post(f"{worker.url}/v1/events", json=event, headers=key_headers(project))
        assert answer.status_code == 202, answer.text
        if event["notify"]:
            ids.append(answer.json()["id"])
    wait_rows(worker, project, 12, timeout=60)  # stored, with their pending deliveries
    worker.kill()
    receiver.start()
    worker = start_worker(data_dir, env, port=worker.port)
    try:
        assert wait_for(lambda: {r["key"] for r in receiver.delivered()} >= set(ids), 60), (
            receiver.requests()
        )
        assert {r["key"] for r in receiver.delivered()} == set(ids)  # notify: true ones only
        assert all(r["signed"] for r in receiver.requests())
    finally:
        receiver.kill()
        assert worker.stop() == 0, worker.log()
