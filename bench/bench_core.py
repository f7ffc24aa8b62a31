"""Per-event cost of the processing core's hot path on one core (µs per event): the embedded
Processor's step (tombstone check, state key, sessionize + stitch through the core's ports,
rows into the batch), over a real state store (RocksDB) from empty.

python bench/bench_core.py [--events 20000] [--rounds 5]

Best of ``rounds`` passes over fresh state, so every pass does the same work.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.workload import Workload
from pipeline.edge.ingest import decode_event as decode_event_body
from pipeline.runtime import processor as processor_module
from pipeline.runtime.spool import SpoolReader
from pipeline.runtime.state_store import StateStore
from pipeline.settings import Settings
from pipeline.stages.enrich import Enricher
from pipeline.stages.normalize import RequestInfo, normalize


def events(count: int) -> list[Any]:
    now = int(time.time() * 1000)
    enricher, info = Enricher(), RequestInfo("prj_bench", now)
    docs = Workload().batch(count, now)
    return [
        enricher.enrich(normalize(decode_event_body(orjson.dumps(d)), info, 3_600_000))
        for d in docs
    ]


def embedded_pass(enriched: list[Any], data: Path) -> float:
    settings = Settings(data_dir=data)
    store = StateStore(data / "state")
    processor = processor_module.Processor(
        SpoolReader(settings.spool_dir, 0),
        store,
        None,
        settings,  # type: ignore[arg-type]
    )
    batch_class = getattr(processor_module, "_SpoolBatch", None) or processor_module._Batch
    batch, step = batch_class(), processor._process_guarded
    started = time.perf_counter()
    for event in enriched:
        step(event, batch)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gc.set_threshold(100_000, 50, 100)
    enriched = events(args.events)
    best = float("inf")
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / str(round_)
            best = min(best, embedded_pass(enriched, data))
    per_event = best / len(enriched) * 1e6
    print(f"{'embedded step (core)':28s} {per_event:7.2f} µs   {len(enriched) / best:10,.0f} /s")


if __name__ == "__main__":
    main()
