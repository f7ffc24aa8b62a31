"""The sink's inserts into a real chDB engine: a block is not collapsed on insert (that pass is
skipped for speed), and every read path still shows one row per event."""

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
