"""Run as a script (chDB allows one engine per process): the edge's side spools five events
into DATA_DIR, one of which the enricher cannot process (a broken enricher stands in for a bug)
and one that sessionize fails on; then a real Processor over the spool, the state store and
chDB stores what it can. Prints JSON with what ended up where."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline import metrics  # noqa: E402
from pipeline.log_config import configure_logging  # noqa: E402
from pipeline.runtime import processor as processor_module  # noqa: E402
from pipeline.runtime import spool_records  # noqa: E402
from pipeline.runtime.core import step as core_step  # noqa: E402
from pipeline.runtime.spool import Spool, SpoolReader  # noqa: E402
from pipeline.runtime.state_store import StateStore  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.sink.clickhouse import ClickHouse  # noqa: E402
from pipeline.stages.enrich import Enricher  # noqa: E402
from schemas.records import RawEvent  # noqa: E402
from tests.factories import BASE_MS  # noqa: E402

IP = "81.2.69.142"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"


class BrokenEnricher:
    def enrich(self, raw):
        raise RuntimeError("the geo database cannot be read")


def failing_on_poison(real):
    def process_event(event, *args):
        if event.event == "poison":
            raise ValueError("a sessionize bug, triggered by this event")
        return real(event, *args)

    return process_event


def main(data_dir: Path, project_id: str) -> None:
    settings = Settings(data_dir=data_dir, sink_flush_seconds=0.2, state_checkpoint_seconds=0.2)
    configure_logging("info", json=True)  # as the CLI does: tracebacks without locals
    raws = [
        RawEvent(
            event_id=f"00000000-0000-0000-0000-{i:012d}", project_id=project_id, type="track",
            event=name, visitor_id="vis_dead", timestamp=BASE_MS + i * 1000,
            received_at=BASE_MS, ip=IP, user_agent=UA,
        )
        for i, name in enumerate(["ok-1", "ok-2", "poison", "ok-3", "broken"])
    ]  # fmt: skip
    enricher = Enricher(settings.geo_database)
    payloads = [spool_records.enrich_or_dead_letter(enricher, raw) for raw in raws[:4]]
    payloads.append(spool_records.enrich_or_dead_letter(BrokenEnricher(), raws[4]))  # type: ignore[arg-type]
    spool = Spool(settings.spool_dir)
    _, end = spool.append(payloads)
    spool.sync(end)
    spool.close()

    core_step.process_event = failing_on_poison(core_step.process_event)
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    clickhouse.migrate()
    store = StateStore(settings.state_dir)
    processor = processor_module.Processor(SpoolReader(settings.spool_dir, end), store,
                                           clickhouse, settings)  # fmt: skip
    processor.start()
    deadline = time.monotonic() + 60
    while processor.inserted_offset < end and time.monotonic() < deadline:
        time.sleep(0.1)
    processor.stop()
    store.close()
    db = settings.clickhouse_database
    _, events = clickhouse.query(f"SELECT event FROM {db}.events FINAL ORDER BY event")
    _, dead = clickhouse.query(
        f"SELECT stage, record_type, reason, record FROM {db}.dead_letters FINAL ORDER BY stage"
    )
    print(orjson.dumps({
        "events": [e for (e,) in events],
        "dead": [dict(zip(("stage", "record_type", "reason", "record"), d, strict=True))
                 for d in dead],
        "counted": {s: metrics.DEAD_LETTERS.labels(s)._value.get()
                    for s in ("enrich", "sessionize")},
    }).decode())  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
