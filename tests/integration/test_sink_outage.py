"""ClickHouse unavailable for a while: the sink backs off and retries from its checkpoint; once
it is back, every event is stored exactly once and the sessions count each event once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

SCENARIO = Path(__file__).with_name("sink_outage_scenario.py")


def test_sink_retries_through_an_outage_and_stores_each_event_once():
    out = subprocess.run(
        [sys.executable, str(SCENARIO)], capture_output=True, check=True, timeout=180
    )
    result = orjson.loads(out.stdout.splitlines()[-1])
    assert result["refused_inserts"] > 0 and result["sink_failures"] > 0
    assert result["rows"] == result["distinct"] == 1000
    assert (result["session_events"], result["sessions"]) == (1000, 50)
