"""Where a dashboard query spends its time: the SQL of each of bench_queries' queries (the
stats API's, the funnel's and the retention matrix's), run straight on chDB in a bench data dir
(no server), with wall time and the process's CPU time (user + system, all threads: chDB runs
in-process) per run.

    PYTHONPATH=. .venv/bin/python bench/profile_queries.py /tmp/qbench-10m --runs 5 [--only page]
    PYTHONPATH=. .venv/bin/python bench/profile_queries.py /tmp/qbench-10m --only funnel
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_queries import MARKER, Query, dashboard_queries  # noqa: E402
from pipeline.query import funnels, retention  # noqa: E402
from pipeline.query.stats.request import parse  # noqa: E402
from pipeline.query.stats.service import StatsService  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.sink.clickhouse import ClickHouse  # noqa: E402


class Recorder:
    """Passes queries through, and keeps the SQL + parameters of each."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse, self.database, self.seen = clickhouse, clickhouse.database, []

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        self.seen.append((sql, parameters))
        return self.clickhouse.query(sql, parameters)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.clickhouse.command(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.clickhouse, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="", help="substring of the query names")
    parser.add_argument("--show-sql", action="store_true")
    parser.add_argument("--show-result", action="store_true", help="the answer's rows (checks)")
    args = parser.parse_args()
    described = orjson.loads((args.data_dir / MARKER).read_bytes())
    project_id = described["project"]["project_id"]
    settings = Settings(data_dir=args.data_dir)
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    clickhouse.migrate()
    recorder = Recorder(clickhouse)
    service = StatsService(recorder)
    for q in dashboard_queries(project_id):
        if args.only not in q.name:
            continue
        run_query = _runner(q, project_id, recorder, service)
        if run_query is None:
            continue
        walls, cpus = [], []
        for run in range(args.runs + 1):
            recorder.seen.clear()
            started, cpu = time.perf_counter(), time.process_time()
            answer = run_query()
            if run:  # the first run warms caches
                walls.append((time.perf_counter() - started) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
        print(
            f"{q.name:<32} wall p50 {statistics.median(walls):7.0f} ms  max {max(walls):7.0f}"
            f"   cpu p50 {statistics.median(cpus):7.0f} ms   ({len(recorder.seen)} statements)"
        )
        if args.show_result:
            shown = answer.get("results", answer.get("steps", answer.get("cohorts")))
            print("   ", orjson.dumps(shown).decode()[:600])
        if args.show_sql:
            for sql, params in recorder.seen:
                print("   ", sql, params)
    clickhouse.close()


def _runner(
    q: Query, project_id: str, recorder: Recorder, service: StatsService
) -> Callable[[], dict[str, Any]] | None:
    """A callable that answers ``q`` as its route does (same SQL), or None for other routes."""
    today = datetime.now(UTC).date()
    if q.path == "/api/v2/query":
        return lambda: service.query(project_id, parse(q.body))
    if q.path == "/v1/funnels":
        funnel = funnels.parse(project_id, q.body, recorder.database, today)
        return lambda: funnels.answer(funnel, recorder.query(funnel.sql, funnel.parameters)[1])
    if q.path == "/v1/retention":
        matrix = retention.parse(project_id, q.params or {}, recorder.database, today)
        return lambda: retention.answer(matrix, recorder.query(matrix.sql, matrix.parameters)[1])
    return None


if __name__ == "__main__":
    main()
