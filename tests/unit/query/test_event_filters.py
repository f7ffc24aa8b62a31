"""Read filters: a raw read returns every event (bots included) unless a filter says otherwise.

The SQL the filters build runs on in-memory chDB tables (in a child process), so these check
what a read returns, not the text of a WHERE clause."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.edge.errors import ApiError
from pipeline.query.event_filters import build_query, with_session_bot_flag

EVENT_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({}, ["backend", "crawl", "human"]),  # every event, bots included
    ({"is_bot": "true"}, ["crawl"]),
    ({"is_bot": "1"}, ["crawl"]),
    ({"is_bot": "false"}, ["backend", "human"]),
    ({"is_bot": "FALSE"}, ["backend", "human"]),
    ({"include_bots": "true"}, ["backend", "crawl", "human"]),
    ({"include_bots": "false"}, ["backend", "human"]),  # the older switch
    ({"include_bots": "false", "is_bot": "true"}, []),  # filters AND together
    ({"notify": "true"}, ["backend"]),
    ({"notify": "false", "is_bot": "false"}, ["human"]),
    ({"event": "crawl"}, ["crawl"]),
]
SESSION_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({}, ["s-bot", "s-desktop", "s-other"]),
    ({"is_bot": "true"}, ["s-bot"]),
    ({"is_bot": "false"}, ["s-desktop", "s-other"]),
    ({"include_bots": "false"}, ["s-desktop", "s-other"]),
    ({"device_type": "bot"}, ["s-bot"]),
]
ROOT = Path(__file__).resolve().parents[2]
# chDB allows one engine per process: the queries run in a child, not inside pytest's process.
SCRIPT = """
import sys, orjson
sys.path.insert(0, sys.argv[1])
import clickhouse_connect
from pipeline.query.event_filters import build_query, build_session_query
client = clickhouse_connect.get_client(dsn="chdb://memory")
client.command("CREATE TABLE ev (project_id String, event String, is_bot Bool, notify Bool, "
               "timestamp DateTime64(3, 'UTC')) ENGINE = Memory")
client.insert("ev", [["p", "human", False, False, 0], ["p", "crawl", True, False, 0],
                     ["p", "backend", False, True, 0], ["other", "human", False, False, 0]],
              column_names=["project_id", "event", "is_bot", "notify", "timestamp"])
client.command("CREATE TABLE se (project_id String, session_id String, device_type String, "
               "is_bounce Bool, start DateTime64(3, 'UTC')) ENGINE = Memory")
client.insert("se", [["p", "s-desktop", "desktop", False, 0], ["p", "s-bot", "bot", False, 0],
                     ["p", "s-other", "other", False, 0]],
              column_names=["project_id", "session_id", "device_type", "is_bounce", "start"])
out = []
for table, params in orjson.loads(sys.argv[2]):
    q = (build_session_query if table == "se" else build_query)("p", params)
    column = "session_id" if table == "se" else "event"
    rows = client.query(f"SELECT {column} FROM {table} WHERE {q.where}", parameters=q.parameters)
    out.append(sorted(row[0] for row in rows.result_rows))
print(orjson.dumps(out).decode())
"""


@pytest.fixture(scope="module")
def answers() -> dict[tuple[str, str], list[str]]:
    """What each case's read returns from chDB, keyed by (table, params as JSON)."""
    cases = [("ev", p) for p, _ in EVENT_CASES] + [("se", p) for p, _ in SESSION_CASES]
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), orjson.dumps(cases).decode()],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    results = orjson.loads(out.stdout)
    return {(t, orjson.dumps(p).decode()): r for (t, p), r in zip(cases, results, strict=True)}


@pytest.mark.parametrize(("params", "expected"), EVENT_CASES)
def test_event_filters(answers, params, expected):
    assert answers["ev", orjson.dumps(params).decode()] == expected


@pytest.mark.parametrize(("params", "expected"), SESSION_CASES)
def test_session_filters(answers, params, expected):
    assert answers["se", orjson.dumps(params).decode()] == expected


@pytest.mark.parametrize("name", ["is_bot", "include_bots", "notify"])
def test_a_flag_that_is_not_true_or_false_is_a_422_naming_it(name):
    with pytest.raises(ApiError) as caught:
        build_query("p", {name: "maybe"})
    assert (caught.value.status, caught.value.field) == (422, name)


def test_session_rows_show_the_bot_flag_of_their_device_type():
    columns, rows, total = with_session_bot_flag(
        ["session_id", "device_type"], [("a", "bot"), ("b", "desktop")], 2
    )
    assert (columns, rows, total) == (
        ["session_id", "device_type", "is_bot"],
        [("a", "bot", True), ("b", "desktop", False)],
        2,
    )
    assert with_session_bot_flag([], [], 0) == ([], [], 0)
