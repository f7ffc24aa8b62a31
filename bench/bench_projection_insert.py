"""Insert cost of the ``events`` projections (schemas/clickhouse/018, 019) in chDB: the same
rows inserted, alternately, into a copy of ``events`` with all its projections and into one
with only those named by ``--without`` dropped; CPU per row of each.

    PYTHONPATH=. .venv/bin/python bench/bench_projection_insert.py /tmp/qbench-10m --rounds 8

The data dir must hold events (e.g. bench_queries' data set; it is only read). Inserts are
``--rows`` rows at a time (7,500: the embedded sink's 0.5 s flush at 15,000 ev/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--rows", type=int, default=7_500)
    parser.add_argument("--inserts", type=int, default=10, help="inserts per round and table")
    parser.add_argument("--without", default="page_visitors_daily,visitors_daily")
    args = parser.parse_args()
    import chdb

    settings = Settings(data_dir=args.data_dir)
    connection = chdb.connect(os.path.realpath(settings.clickhouse_dsn[len("chdb://") :]))

    def run(sql: str) -> None:
        connection.query(sql, "TabSeparated")

    total = args.rows * args.inserts
    run("CREATE DATABASE IF NOT EXISTS projection_bench")
    for table in ("src", "without", "with"):
        run(f"DROP TABLE IF EXISTS projection_bench.{table}")
    run(
        "CREATE TABLE projection_bench.src ENGINE = Memory AS SELECT * FROM trackhouse.events "
        f"ORDER BY timestamp DESC LIMIT {total}"
    )
    for table in ("without", "with"):
        run(f"CREATE TABLE projection_bench.{table} AS trackhouse.events")
    for name in filter(None, args.without.split(",")):
        run(f"ALTER TABLE projection_bench.without DROP PROJECTION IF EXISTS {name}")
    per_row: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(args.rounds):
        for table in per_row:
            started = time.process_time()
            for i in range(args.inserts):
                run(
                    f"INSERT INTO projection_bench.{table} SELECT * FROM projection_bench.src "
                    f"LIMIT {args.rows} OFFSET {i * args.rows} SETTINGS optimize_on_insert = 0"
                )
            per_row[table].append((time.process_time() - started) / total * 1e6)
    run("DROP DATABASE projection_bench")
    for table, values in per_row.items():
        rounded = ", ".join(f"{v:.2f}" for v in values)
        print(f"{table:<8} CPU p50 {statistics.median(values):5.2f} µs/row   ({rounded})")
    extra = statistics.median(per_row["with"]) - statistics.median(per_row["without"])
    print(f"the projections {args.without}: {extra:+.2f} µs per inserted row")


if __name__ == "__main__":
    main()
