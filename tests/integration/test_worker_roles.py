"""Process and sink agents in separate workers (``--role process`` / ``--role sink``): the
shape that puts the stages and the ClickHouse inserts on different cores or machines. The
process worker opens no ClickHouse; the sink worker owns it (and the HTTP API, with chDB)."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import BASE_MS, MINUTE_MS, native_event
from tests.integration.helpers import fetch, post_batch, wait_rows
from tests.integration.kafka_worker import Worker, worker_env
from tests.integration.server import cli, start_process_worker, wait_for

pytestmark = pytest.mark.slow


def test_a_process_worker_and_a_sink_worker_store_enriched_sessionized_stitched_events(
    kafka, tmp_path
):
    env = worker_env(kafka)
    data_dir = tmp_path / "sink" / "data"
    project = cli(data_dir, "projects", "create", "roles")
    processor = start_process_worker(tmp_path / "process", env)
    sink = Worker(data_dir, env=env, command=("worker", "--role", "sink")).start(timeout=120)
    try:
        visitor = f"vis_{uuid.uuid4().hex}"
        events = [
            native_event(visitor, event="browse", timestamp=BASE_MS),
            native_event(visitor, event="browse", timestamp=BASE_MS + 40 * MINUTE_MS),
            native_event(
                visitor, type="identify", user_id="u_roles", timestamp=BASE_MS + 41 * MINUTE_MS
            ),
        ]
        assert post_batch(sink, project, events).status_code == 202
        rows = wait_rows(sink, project, 3, timeout=60, user_id="u_roles")
        assert len(rows) == 3  # the anonymous events resolve to the user, retroactively
        assert len({r["session_id"] for r in rows}) == 2  # 40 minutes apart: two sessions
        sessions = fetch(sink, project, "/v1/sessions", visitor_id=visitor)["sessions"]
        assert sorted(s["events"] for s in sessions) == [1, 2]
        assert processor.poll() is None, (tmp_path / "process" / "worker.log").read_text()
        assert not (tmp_path / "process" / "clickhouse").exists()  # it opened no chDB
        assert (tmp_path / "process" / "faust").is_dir()  # the visitor-state table is there
    finally:
        assert sink.stop() == 0, sink.log()
        processor.terminate()
        assert wait_for(lambda: processor.poll() is not None, 60)
