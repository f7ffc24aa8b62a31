"""Cost of the validate stage (tracking plans) per event, on one core.

python bench/bench_validate.py [--events 20000] [--rounds 5]

- ``validate()`` alone, each event timed (p50 and p99, µs), on the workload's events (page
  views, ``clicked`` with three properties, identify calls with a trait) against a plan of 200
  events (the workload's own, and 199 others of five typed properties), and on events of the
  plan's own names (five properties each: a pattern, an enum, bounds).
- The embedded processor's step (bench_core.py's pass) with no plan at all, with a plan for
  another project (the cost for a project without one: a dict lookup), and with the 200-event
  plan for the project: best of ``rounds`` passes, µs/event.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_core import events as workload_events
from pipeline.plans.book import PlanBook
from pipeline.runtime import processor as processor_module
from pipeline.runtime.spool import SpoolReader
from pipeline.runtime.state_store import StateStore
from pipeline.settings import Settings
from pipeline.stages.validate import CompiledPlan, compile_plan, validate
from schemas.plans import plan_from_object

PROPERTIES = {
    "item_id": {"type": "string", "required": True, "pattern": "^it_[0-9]+$"},
    "price": {"type": "number", "minimum": 0},
    "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
    "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
    "gift": {"type": "boolean"},
}


def plan_document(count: int = 200) -> dict[str, Any]:
    """A plan of ``count`` events: the workload's ``clicked`` (3 properties) and its identify
    trait, and ``count - 1`` others of five typed properties (what bench_embedded.py
    ``--plan-events`` loads)."""
    clicked = {
        "name": "clicked",
        "properties": {
            "button": {"type": "string", "required": True, "enum": ["buy", "cancel"]},
            "price": {"type": "number", "minimum": 0},
            "test": {"type": "boolean"},
        },
    }
    others = [{"name": f"Viewed Item {i}", "properties": PROPERTIES} for i in range(count - 1)]
    traits = {"plan": {"type": "string", "enum": ["free", "pro"]}}
    return {"events": [clicked, *others], "traits": traits}


def plan_of_200(project_id: str) -> CompiledPlan:
    return compile_plan(plan_from_object({**plan_document(200), "project_id": project_id}))


def planned_events(template: Any, count: int) -> list[Any]:
    properties = {"item_id": "it_42", "price": 9.5, "quantity": 2, "currency": "EUR", "gift": False}
    return [
        msgspec.structs.replace(
            template, type="track", event=f"Viewed Item {i % 199}", properties=properties
        )
        for i in range(count)
    ]


def timed_each(events: list[Any], plan: CompiledPlan) -> tuple[float, float]:
    clock, samples = time.perf_counter_ns, []
    overhead = min(-(clock() - clock()) for _ in range(1000))
    for event in events:
        started = clock()
        validate(event, plan)
        samples.append(clock() - started - overhead)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def step_pass(enriched: list[Any], data: Path, book: PlanBook) -> float:
    settings = Settings(data_dir=data)
    store = StateStore(data / "state")
    processor = processor_module.Processor(
        SpoolReader(settings.spool_dir, 0),
        store,
        None,
        settings,
        plans=book,  # type: ignore[arg-type]
    )
    batch, step = processor_module._SpoolBatch(), processor._process_guarded
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
    enriched = workload_events(args.events)
    project = enriched[0].project_id
    plan = plan_of_200(project)
    for name, sample in (
        ("validate: workload events", enriched),
        ("validate: planned events", planned_events(enriched[0], args.events)),
    ):
        p50, p99 = timed_each(sample, plan)
        print(f"{name:34s} p50 {p50:6.2f} µs   p99 {p99:6.2f} µs")
    books = {"no plan": PlanBook(), "a plan for another project": PlanBook(),
             "200-event plan": PlanBook()}  # fmt: skip
    books["a plan for another project"].plans = {"prj_other": plan}
    books["200-event plan"].plans = {project: plan}
    best = dict.fromkeys(books, float("inf"))
    for round_ in range(args.rounds):  # interleaved: a busy machine slows all three alike
        for label, book in books.items():
            with tempfile.TemporaryDirectory() as tmp:
                elapsed = step_pass(enriched, Path(tmp) / str(round_), book)
                best[label] = min(best[label], elapsed)
    results = {label: seconds / len(enriched) * 1e6 for label, seconds in best.items()}
    for label, per_event in results.items():
        print(f"{'step, ' + label:34s} {per_event:7.2f} µs/event")
    added = results["200-event plan"] - results["no plan"]
    print(f"{'added by the 200-event plan':34s} {added:7.2f} µs/event")


if __name__ == "__main__":
    main()
