"""Per-stage cost of the embedded hot path on one core (µs per event), side by side.

python bench/bench_stages.py [--events 20000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.workload import Workload
from pipeline.edge.ingest import decode_event as decode_event_body
from pipeline.runtime.spool_records import decode_event, encode_event
from pipeline.sink import rows
from pipeline.stages.chain import process_event
from pipeline.stages.enrich import Enricher
from pipeline.stages.normalize import RequestInfo, normalize


def timed(label: str, fn: Callable[[Any], Any], items: list[Any], rounds: int = 3) -> list[Any]:
    """Best of ``rounds`` passes; prints µs per item and items/s."""
    best, out = float("inf"), []
    for _ in range(rounds):
        start = time.perf_counter()
        out = [fn(item) for item in items]
        best = min(best, time.perf_counter() - start)
    print(f"{label:28s} {best / len(items) * 1e6:7.2f} µs   {len(items) / best:10,.0f} /s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    gc.set_threshold(100_000, 50, 100)
    now = int(time.time() * 1000)
    docs = Workload().batch(args.events, now)
    bodies = [orjson.dumps(d) for d in docs]
    enricher = Enricher()
    info = RequestInfo("prj_bench", now)

    timed("json parse only (orjson)", orjson.loads, bodies)
    natives = timed("decode + validate (msgspec)", decode_event_body, bodies)
    raws = timed("normalize", lambda n: normalize(n, info, 3_600_000), natives)
    enriched = timed("enrich (cached parsers)", enricher.enrich, raws)
    payloads = timed("encode for spool", encode_event, enriched)
    timed("decode from spool", decode_event, payloads)
    state: dict[str, Any] = {}

    def sessionize_and_stitch(event: Any) -> None:
        sessions, identity = state.get(event.visitor_key, (None, None))
        outcome = process_event(event, sessions, identity, 1_800_000)
        state[event.visitor_key] = (outcome.sessions_state, outcome.identity_state)

    timed("sessionize + stitch", sessionize_and_stitch, enriched, rounds=1)
    start = time.perf_counter()
    rows.event_block(enriched)
    elapsed = time.perf_counter() - start
    print(f"{'rows (column block)':28s} {elapsed / len(enriched) * 1e6:7.2f} µs")


if __name__ == "__main__":
    main()
