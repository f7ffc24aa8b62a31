"""Kafka-mode benchmark: drive a real ``trackhouse worker`` (HTTP API -> events.raw -> Faust
agents -> ClickHouse) with the realistic batches of ``bench_embedded``.

Prints events/s accepted and stored, how long the backlog took to drain and POST -> row visible
latency. Starts deploy/kafka on its own unless ``--bootstrap`` (or TRACKHOUSE_KAFKA_BOOTSTRAP).

    python bench/bench_worker.py --seconds 30 --rate 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_embedded import Load  # noqa: E402
from tests.integration.server import Server, cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TRACKHOUSE_KAFKA_BOOTSTRAP", ""))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=5_000, help="offered events/s")
    parser.add_argument("--batch", type=int, default=200, help="events per POST")
    parser.add_argument("--workers", type=int, default=4, help="concurrent connections")
    parser.add_argument("--store", default="rocksdb://", help="Faust table store")
    args = parser.parse_args()

    broker = None
    if not args.bootstrap:
        from tests.kafka_broker import LocalBroker

        broker = LocalBroker(Path(tempfile.mkdtemp(prefix="bench-kafka-")))
        args.bootstrap = broker.start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        f"TRACKHOUSE_TOPIC_{name.upper()}": f"{name}.{suffix}"
        for name in ("raw", "enriched", "identities", "dead", "notifications")
    }
    env.update(
        TRACKHOUSE_KAFKA_BOOTSTRAP=args.bootstrap,
        TRACKHOUSE_FAUST_APP_ID=f"bench-{suffix}",
        TRACKHOUSE_FAUST_STORE=args.store,
        TRACKHOUSE_LOG_LEVEL="warning",
        TRACKHOUSE_SINK_FLUSH_SECONDS="0.5",
    )
    data_dir = Path(tempfile.mkdtemp(prefix="trackhouse-bench-worker-")) / "data"
    project = cli(data_dir, "projects", "create", "bench")
    server = Server(data_dir, env=env, command=("worker",)).start(timeout=120)
    try:
        load = Load(server, project["secret_key"], args.rate, args.batch, args.seconds)
        result = asyncio.run(load.run(args.workers))
    finally:
        server.stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)
        if broker is not None:
            broker.stop()

    lat = sorted(load.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print(
        f"offered rate:                      {args.rate:10,} ev/s for {args.seconds:.0f} s "
        f"(batches of {args.batch}, {args.workers} connections, {os.cpu_count()} cores, "
        f"store {args.store})"
    )
    print(
        f"accepted (202):                    {load.accepted / result['send_seconds']:10,.0f} ev/s"
        f"  ({load.accepted:,} events, {load.refused:,} refused)"
    )
    print(
        "stored in ClickHouse during load:  "
        f"{result['stored_at_deadline'] / result['send_seconds']:10,.0f} ev/s"
    )
    print(
        f"all stored after:                  {result['drained_seconds']:10.1f} s "
        f"({result['stored_total']:,.0f} events, "
        f"{result['stored_total'] / result['drained_seconds']:,.0f} ev/s overall)"
    )
    print(
        f"POST -> row visible latency:       p50 {p50:.3f} s   p99 {p99:.3f} s   "
        f"({len(lat)} probes)"
    )


if __name__ == "__main__":
    main()
