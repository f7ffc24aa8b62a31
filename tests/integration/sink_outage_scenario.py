"""Run as a script (chDB allows one engine per process, so not inside pytest's process): a
Processor over a real spool, state store and chDB, whose ClickHouse refuses every insert for the
first few seconds. Prints JSON with what ended up stored."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline import metrics  # noqa: E402
from pipeline.runtime.processor import Processor  # noqa: E402
from pipeline.runtime.spool import Spool, SpoolReader  # noqa: E402
from pipeline.runtime.spool_records import encode_event  # noqa: E402
from pipeline.runtime.state_store import StateStore  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.sink.clickhouse import ClickHouse  # noqa: E402
from tests.factories import BASE_MS, enriched  # noqa: E402

EVENTS = 1000
OUTAGE_SECONDS = 3.0


class UnavailableFor:
    """A real ClickHouse whose inserts fail (as a dropped connection would) for a while."""

    def __init__(self, clickhouse: ClickHouse, seconds: float) -> None:
        self.clickhouse, self.until, self.refused = clickhouse, time.monotonic() + seconds, 0

    def insert_once(self, block) -> None:
        if time.monotonic() < self.until:
            self.refused += 1
            raise ConnectionError("ClickHouse unavailable (simulated outage)")
        self.clickhouse.insert_once(block)

    def __getattr__(self, name):
        return getattr(self.clickhouse, name)


def main() -> None:
    data = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=data, sink_flush_seconds=0.2, state_checkpoint_seconds=0.5)
    clickhouse = ClickHouse(f"chdb://{data / 'clickhouse'}", "outage")
    clickhouse.migrate()
    spool = Spool(settings.spool_dir)
    events = [
        enriched(event_id=f"00000000-0000-0000-0000-{i:012d}", visitor_id=f"v{i % 50}",
                 timestamp=BASE_MS + i)
        for i in range(EVENTS)
    ]  # fmt: skip
    _, end = spool.append([encode_event(e) for e in events])
    spool.sync(end)
    flaky = UnavailableFor(clickhouse, OUTAGE_SECONDS)
    processor = Processor(SpoolReader(settings.spool_dir, end), StateStore(settings.state_dir),
                          flaky, settings)  # fmt: skip
    processor.start()
    deadline = time.monotonic() + 60
    while processor.inserted_offset < end and time.monotonic() < deadline:
        time.sleep(0.2)
    processor.stop()
    _, rows = clickhouse.query("SELECT count(), uniqExact(event_id) FROM outage.events FINAL")
    _, sessions = clickhouse.query("SELECT sum(events), count() FROM outage.sessions FINAL")
    print(orjson.dumps({
        "refused_inserts": flaky.refused,
        "sink_failures": metrics.SINK_FAILURES._value.get(),
        "rows": rows[0][0], "distinct": rows[0][1],
        "session_events": sessions[0][0], "sessions": sessions[0][1],
    }).decode())  # fmt: skip


if __name__ == "__main__":
    main()
