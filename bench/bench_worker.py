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
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_embedded import Load, process_cpu_seconds  # noqa: E402
from tests.integration.server import Server, cli, start_process_worker  # noqa: E402


def kafka_broker_pids() -> dict[str, int]:
    """The local Kafka broker's JVM (when it runs on this machine), to count its CPU too."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"kafka.Kafka" in status.read_bytes():
                return {"Kafka broker": int(status.parent.name)}
        except OSError:
            continue
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TRACKHOUSE_KAFKA_BOOTSTRAP", ""))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=5_000, help="offered events/s")
    parser.add_argument(
        "--warmup",
        type=float,
        default=15,
        help="seconds of load at the same rate before the measured run (the broker's JIT "
        "compiles its hot paths then: a fresh JVM spends ~30%% of its CPU compiling)",
    )
    parser.add_argument("--batch", type=int, default=200, help="events per POST")
    parser.add_argument("--workers", type=int, default=4, help="concurrent connections")
    parser.add_argument("--store", default="rocksdb://", help="Faust table store")
    parser.add_argument(
        "--split",
        action="store_true",
        help="two workers: --role process, and --role sink (owns chDB, serves the API)",
    )
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
    processor = None
    if args.split:
        processor = start_process_worker(data_dir.parent / "process", env)
    command = ("worker", "--role", "sink") if args.split else ("worker",)
    server = Server(data_dir, env=env, command=command).start(timeout=120)
    try:
        if args.warmup > 0:
            warmup = Load(server, project["secret_key"], args.rate, args.batch, args.warmup)
            asyncio.run(warmup.run(args.workers))
        first_probe = 1_000_000_000  # not one of the warm-up's
        load = Load(
            server, project["secret_key"], args.rate, args.batch, args.seconds, first_probe
        )
        roles = {"sink worker (API)" if args.split else "worker (API)": server.process.pid}
        if processor is not None:
            roles["process worker"] = processor.pid
        roles.update(kafka_broker_pids())
        cpu_before = {role: process_cpu_seconds(pid) for role, pid in roles.items()}
        load_before = time.process_time()
        result = asyncio.run(load.run(args.workers))
        cpu = {role: process_cpu_seconds(pid) - cpu_before[role] for role, pid in roles.items()}
        cpu["load generator"] = time.process_time() - load_before
    finally:
        server.stop()
        if processor is not None:
            processor.terminate()
            processor.wait(30)
        shutil.rmtree(data_dir.parent, ignore_errors=True)
        if broker is not None:
            broker.stop()

    lat = sorted(load.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print(
        f"offered rate:                      {args.rate:10,} ev/s for {args.seconds:.0f} s "
        f"(batches of {args.batch}, {args.workers} connections, {os.cpu_count()} cores, "
        f"store {args.store}, {'process + sink workers' if args.split else 'one worker'}, "
        f"after {args.warmup:.0f} s of warm-up)"
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
    per_thousand = 1000 / max(result["stored_total"], 1)
    print(
        "CPU ms per 1,000 stored (to the end): "
        + ", ".join(f"{role} {seconds * per_thousand * 1000:.0f}" for role, seconds in cpu.items())
        + f"; {sum(cpu.values()) / result['drained_seconds'] / os.cpu_count():.0%} of the cores"
    )


if __name__ == "__main__":
    main()
