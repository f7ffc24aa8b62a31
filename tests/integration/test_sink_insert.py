"""The sink's inserts into a real chDB engine: a block is not collapsed on insert (that pass is
skipped for speed), every read path still shows one row per event, and the two ways records go
in (a JSON lines file in-process, Native columns for a server) store the same rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]

# chDB allows one engine per process: run it in a child, not inside pytest's process.
SCRIPT = """
import sys, tempfile
sys.path.insert(0, sys.argv[1])
import orjson
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from tests.factories import enriched
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "sink")
ch.migrate()
event = enriched(event_id="8a0d2f4e-5b1c-5d7e-9f00-0123456789ab", visitor_id="v1")
ch.insert(rows.event_block([event, event, enriched(visitor_id="v2")]))
def count(sql):
    return ch.query(sql)[1][0][0]
print(orjson.dumps({
    "physical": count("SELECT count() FROM sink.events"),
    "final": count("SELECT count() FROM sink.events FINAL"),
    "resolved": count("SELECT count() FROM sink.events_resolved"),
}).decode())
"""


def test_a_duplicate_inside_one_block_is_stored_twice_but_read_once():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, check=True, timeout=120
    )
    result = orjson.loads(out.stdout.splitlines()[-1])
    assert result == {"physical": 3, "final": 2, "resolved": 2}


PARITY_SCRIPT = """
import sys, tempfile
sys.path.insert(0, sys.argv[1])
import orjson
from bench.workload import Workload
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.enrich import Enricher
from pipeline.stages.normalize import RequestInfo, normalize
from schemas.events import NativeEvent
from tests.factories import enriched
import msgspec
now = 1_767_225_600_123
info = RequestInfo("prj_parity", now)
enricher = Enricher()
events = [
    enricher.enrich(normalize(msgspec.convert(doc, NativeEvent), info, 3_600_000))
    for doc in Workload().batch(300, now)
]
events += [
    enriched(
        event="quote ' backslash \\\\ newline \\n tab \\t émoji 🎉",
        properties={"price": 0.1 + 0.2, "big": 2**53 + 1, "tiny": 5e-324, "ok": True,
                    "none": None, "text": 'a "quoted" \\u2028 line'},
        traits={"plan": "pro"},
        revenue_amount=1234.5678901234567,
        duration_ms=None,
        notify=True,
        timestamp=now - 1,
        received_at=now,
        session_id="s1",
        user_id="u1",
    ),
    enriched(revenue_amount=None, duration_ms=0.001, timestamp=0, received_at=now),
]
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "sink")
ch.migrate()
assert ch.reads_local_files
from pipeline.stages.chain import process_event
sessions = [process_event(e, None, None, 1_800_000).session for e in events[:50]]
def stored(table, key):
    names, found = ch.query(f"SELECT * FROM sink.{table} ORDER BY {key}")
    return [dict(zip(names, map(str, row))) for row in found]
blocks = [(rows.event_block(events), "event_id"), (rows.session_block(sessions), "session_id")]
result = {"sent": len(events), "sent_sessions": len(sessions)}
for block, key in blocks:
    ch.insert(block)
    from_file = stored(block.table, key)
    ch.command(f"TRUNCATE TABLE sink.{block.table}")
    ch.insert(block, as_columns=True)
    result[block.table] = {"file": from_file, "columns": stored(block.table, key)}
print(orjson.dumps(result).decode())
"""


def test_records_from_a_file_and_as_columns_store_the_same_rows():
    """Events and sessions: the in-process path and the server path store identical rows."""
    out = subprocess.run(
        [sys.executable, "-c", PARITY_SCRIPT, str(ROOT)],
        capture_output=True,
        check=True,
        timeout=180,
    )
    result = orjson.loads(out.stdout.splitlines()[-1])
    events, sessions = result["events"], result["sessions"]
    assert len(events["file"]) == result["sent"] == 302
    assert events["file"] == events["columns"]
    assert len(sessions["file"]) == result["sent_sessions"] == 50
    assert sessions["file"] == sessions["columns"]
    tricky = next(row for row in events["file"] if row["event"].startswith("quote"))
    assert orjson.loads(tricky["properties"])["big"] == 2**53 + 1
    assert tricky["revenue_amount"] == "1234.5678901234567"
    assert tricky["timestamp"].startswith("2026-01-01 00:00:00.122")
