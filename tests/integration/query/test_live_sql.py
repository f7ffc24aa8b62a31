"""Live SQL: ClickHouse's HTTP interface at /clickhouse/ on a running embedded server — the real
clickhouse-connect client and curl-like requests read live data while events are ingested;
writes, settings changes and outside-reaching table functions are refused (4xx, ClickHouse's
error text and code)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
import uuid

import clickhouse_connect
import httpx
import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.factories import native_event
from tests.integration.helpers import post_batch, wait_rows
from tests.integration.query.conftest import ANALYST_TOKEN

AUTH = ("default", ANALYST_TOKEN)


def client(server, **kwargs):
    return clickhouse_connect.get_client(
        host="127.0.0.1",
        port=server.port,
        username="default",
        password=ANALYST_TOKEN,
        database="trackhouse",
        proxy_path="/clickhouse",
        **kwargs,
    )


def ingest(server, count: int, event: str) -> None:
    [project] = server.projects
    events = [native_event(f"v-{uuid.uuid4().hex[:8]}", event=event) for _ in range(count)]
    assert post_batch(server, project, events).status_code == 202


def sql(server, query: str, **params):
    return httpx.post(
        f"{server.url}/clickhouse/", params=params, content=query.encode(), auth=AUTH, timeout=30
    )


def test_clickhouse_connect_reads_live_events(analyst_server):
    [project] = analyst_server.projects
    ingest(analyst_server, 25, "live_sql_seen")
    wait_rows(analyst_server, project, 25, event="live_sql_seen")
    ch = client(analyst_server)
    count = ch.query(
        "SELECT count() FROM events WHERE project_id = {p:String} AND event = {e:String}",
        parameters={"p": project["project_id"], "e": "live_sql_seen"},
    ).result_rows
    assert count == [(25,)]
    assert ch.command("SELECT count() FROM projects") >= 1
    result = ch.query("SELECT event, visitor_id, timestamp FROM events ORDER BY timestamp LIMIT 3")
    assert result.column_names == ("event", "visitor_id", "timestamp")
    assert len(result.result_rows) == 3
    assert ch.ping()
    with pytest.raises(DatabaseError, match="164"):
        ch.command("DROP TABLE events")


def test_curl_style_requests_formats_parameters_and_gzip(analyst_server):
    url = f"{analyst_server.url}/clickhouse/"
    answer = httpx.get(
        url,
        params={"query": "SELECT number AS n FROM numbers(3) FORMAT JSONEachRow", "query_id": "q1"},
        auth=AUTH,
    )
    assert answer.status_code == 200, answer.text
    assert [orjson.loads(line) for line in answer.text.splitlines()] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    assert answer.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert answer.headers["X-ClickHouse-Query-Id"] == "q1"
    summary = orjson.loads(answer.headers["X-ClickHouse-Summary"])
    assert summary["read_rows"] == "3" and int(summary["elapsed_ns"]) > 0

    bound = sql(
        analyst_server, "SELECT {a:UInt32} + 1 AS b, {s:String} AS s", param_a="41", param_s="x\\ty"
    )
    assert bound.status_code == 200, bound.text
    assert bound.text == "42\tx\\ty\n"  # TabSeparated, the default format
    assert bound.headers["X-ClickHouse-Format"] == "TabSeparated"

    as_json = sql(
        analyst_server, "SELECT 1 AS one", default_format="JSONCompact", database="system"
    )
    assert orjson.loads(as_json.text)["data"] == [[1]]

    body = gzip.compress(b"SELECT count() AS c FROM numbers(10) FORMAT JSONEachRow")
    compressed = httpx.post(
        url,
        params={"enable_http_compression": "1"},
        content=body,
        headers={"Content-Encoding": "gzip", "Accept-Encoding": "gzip"},
        auth=AUTH,
    )
    assert compressed.status_code == 200, compressed.text
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert compressed.json() == {"c": 10}  # (httpx decompresses)
    plain = sql(analyst_server, "SELECT 1", enable_http_compression="0")
    assert "Content-Encoding" not in plain.headers


REFUSALS = [
    ("INSERT INTO events (event) VALUES ('x')", {}, 164, 403),
    ("ALTER TABLE events DELETE WHERE 1", {}, 164, 403),
    ("CREATE TABLE trackhouse.x (a Int8) ENGINE = Memory", {}, 164, 403),
    ("DROP TABLE events", {}, 164, 403),
    ("TRUNCATE TABLE events", {}, 164, 403),
    ("OPTIMIZE TABLE events FINAL", {}, 164, 403),
    ("RENAME TABLE events TO e", {}, 164, 403),
    ("DETACH TABLE events", {}, 164, 403),
    ("ATTACH TABLE events", {}, 164, 403),
    ("GRANT SELECT ON *.* TO bob", {}, 164, 403),
    ("SYSTEM STOP MERGES", {}, 164, 403),
    ("KILL QUERY WHERE 1", {}, 164, 403),
    ("SET max_execution_time = 1000", {}, 164, 403),
    ("SELECT 1 SETTINGS max_execution_time = 1000", {}, 164, 403),
    ("SELECT 1", {"max_execution_time": "1000"}, 164, 403),
    ("SELECT 1", {"readonly": "0"}, 164, 403),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", {}, 497, 403),
    ("SELECT * FROM url('http://127.0.0.1:1/x.csv', CSV)", {}, 497, 403),
    ("SELECT * FROM s3('http://127.0.0.1:1/b/x.csv')", {}, 497, 403),
    ("SELECT * FROM remote('127.0.0.1:1', system.one)", {}, 497, 403),
    ("SELECT * FROM postgresql('127.0.0.1:1', 'd', 't', 'u', 'p')", {}, 497, 403),
    ("SELECT * FROM executable('x.sh', TSV, 'a Int8')", {}, 497, 403),
    ("SELECT 1; DROP TABLE events", {}, 62, 400),
    ("SELECT * FROM no_such_table", {}, 60, 404),
    ("SELECT number FROM numbers(20000)", {}, 396, 400),  # over max_result_rows (10000)
]


@pytest.mark.parametrize(("query", "params", "code", "status"), REFUSALS)
def test_refusals_are_clickhouse_errors_never_5xx(analyst_server, query, params, code, status):
    answer = sql(analyst_server, query, **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["X-ClickHouse-Exception-Code"] == str(code)
    assert answer.text.startswith(f"Code: {code}. DB::Exception: ")


def test_authentication(analyst_server):
    url = f"{analyst_server.url}/clickhouse/"
    none = httpx.get(url, params={"query": "SELECT 1"})
    assert none.status_code == 401 and none.headers["X-ClickHouse-Exception-Code"] == "194"
    wrong = httpx.get(url, params={"query": "SELECT 1"}, auth=("default", "wrong"))
    assert wrong.status_code == 403 and wrong.headers["X-ClickHouse-Exception-Code"] == "516"
    assert "AUTHENTICATION_FAILED" in wrong.text
    for headers in (
        {"X-ClickHouse-Key": ANALYST_TOKEN},
        {"Authorization": f"Bearer {ANALYST_TOKEN}"},
    ):
        assert httpx.get(url, params={"query": "SELECT 1"}, headers=headers).text == "1\n"


def test_a_slow_analyst_query_is_stopped_and_ingest_goes_on(analyst_server):
    """A query past the time limit (2 s here) ends with code 159; meanwhile events posted are
    stored and readable as usual."""
    [project] = analyst_server.projects
    slow: list[httpx.Response] = []
    ended: list[float] = []
    query = "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) % 7 = 3"

    def analyse() -> None:
        slow.append(sql(analyst_server, query))
        ended.append(time.monotonic())

    worker = threading.Thread(target=analyse)
    worker.start()
    time.sleep(0.3)  # the query is running
    tried = []
    for _ in range(5):
        ingest(analyst_server, 20, "during_analysis")
        # the storage process keeps answering its heartbeat (chDB runs the query off the GIL)
        assert httpx.get(f"{analyst_server.url}/readyz").status_code == 200
        tried.append(time.monotonic())
    wait_rows(analyst_server, project, 100, event="during_analysis", timeout=30)
    worker.join(30)
    assert tried[0] < ended[0], "ingest was not tried while the query ran"
    assert slow[0].status_code == 408, slow[0].text
    assert slow[0].headers["X-ClickHouse-Exception-Code"] == "159"


def test_the_engine_refuses_writes_itself_whatever_the_parser_lets_through(tmp_path):
    """Defense in depth: the raw runner (no parser in front) is read-only in the engine."""
    script = f"""
from pipeline.log_config import configure_logging
from pipeline.sink.raw_sql import RawLimits, RawSql
configure_logging("warning", True)
raw = RawSql("chdb://{tmp_path}", "default", RawLimits(max_execution_seconds=5))
for sql in ("CREATE TABLE t (a Int8) ENGINE = Memory", "SELECT * FROM file('/etc/passwd')",
            "SET max_execution_time = 100", "SELECT 1 SETTINGS max_result_rows = 0"):
    answer = raw.run(sql, "TabSeparated", {{}}, "default")
    print(answer.error_code, flush=True)
print(raw.run("SELECT 2", "TabSeparated", {{}}, "default").data.decode().strip())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, timeout=120, text=True
    )
    assert out.stdout.split() == ["164", "164", "164", "164", "2"], out.stderr


def test_trackhouse_sql_goes_through_live_sql_while_the_server_runs(analyst_server):
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "sql",
        "SELECT count() > 0 AS any_events FROM events",
        "--data-dir",
        str(analyst_server.data_dir),
    ]
    env = {**os.environ, "TRACKHOUSE_LOG_LEVEL": "warning"}
    ingest(analyst_server, 1, "cli")
    answer = subprocess.run(
        command,
        env={**env, "TRACKHOUSE_ANALYST_TOKEN": ANALYST_TOKEN},
        capture_output=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    assert orjson.loads(answer.stdout) == {"columns": ["any_events"], "rows": [[True]]}
    without = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert without.returncode != 0
    assert b"TRACKHOUSE_ANALYST_TOKEN" in without.stderr
    write = [*command[:4], "DROP TABLE events", *command[5:]]
    refused = subprocess.run(
        write,
        env={**env, "TRACKHOUSE_ANALYST_TOKEN": ANALYST_TOKEN},
        capture_output=True,
        timeout=120,
    )
    assert refused.returncode != 0 and b"READONLY" in refused.stderr


def test_a_query_over_the_memory_limit_is_stopped_not_the_storage_process(analyst_server):
    hog = "SELECT groupArray(repeat('x', 1000)) FROM numbers(5000000)"
    answer = sql(analyst_server, hog)
    assert answer.status_code == 400, answer.text
    assert answer.headers["X-ClickHouse-Exception-Code"] == "241"
    assert sql(analyst_server, "SELECT 1").text == "1\n"
