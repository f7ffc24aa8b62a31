"""Live SQL in Kafka mode: the worker that serves the HTTP API answers ClickHouse's HTTP
interface on its own ClickHouse (chDB here), read-only, while it consumes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import clickhouse_connect
import httpx
import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.factories import native_event
from tests.integration.helpers import post_batch, wait_rows
from tests.integration.kafka_worker import start_worker, worker_env
from tests.integration.server import cli

pytestmark = pytest.mark.slow
TOKEN = "kafka-analyst-token"


def test_the_workers_api_serves_live_sql(kafka, tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "kafka")
    worker = start_worker(data_dir, worker_env(kafka, TRACKHOUSE_ANALYST_TOKEN=TOKEN))
    try:
        events = [native_event(f"v-{uuid.uuid4().hex[:8]}", event="kafka_sql") for _ in range(5)]
        assert post_batch(worker, project, events).status_code == 202
        wait_rows(worker, project, 5, event="kafka_sql", timeout=60)
        client = clickhouse_connect.get_client(
            host="127.0.0.1",
            port=worker.port,
            username="default",
            password=TOKEN,
            database="trackhouse",
            proxy_path="/clickhouse",
        )
        count = "SELECT count() FROM events WHERE event = {e:String}"
        assert client.query(count, parameters={"e": "kafka_sql"}).result_rows == [(5,)]
        with pytest.raises(DatabaseError, match="164"):
            client.command("TRUNCATE TABLE events")
        refused = httpx.post(
            f"{worker.url}/clickhouse/",
            content=b"SELECT * FROM url('http://127.0.0.1:1/x', CSV)",
            auth=("default", TOKEN),
        )
        assert refused.status_code == 403
        assert refused.headers["X-ClickHouse-Exception-Code"] == "497"
        # `trackhouse sql` on the data dir the worker holds goes through its live SQL
        answer = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "sql",
                "SELECT count() AS n FROM events",
                "--data-dir",
                str(data_dir),
            ],
            env={
                **os.environ,
                "TRACKHOUSE_ANALYST_TOKEN": TOKEN,
                "TRACKHOUSE_LOG_LEVEL": "warning",
            },
            capture_output=True,
            timeout=120,
        )
        assert answer.returncode == 0, answer.stderr
        assert orjson.loads(answer.stdout) == {"columns": ["n"], "rows": [[5]]}
    finally:
        assert worker.stop() == 0, worker.log()
