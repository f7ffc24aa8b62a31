"""Kafka-mode benchmark: drive a real ``trackhouse worker`` (HTTP API -> events.raw -> Faust
agents -> ClickHouse) with the realistic batches of ``bench_embedded``.

Prints, from one run: the floors (plain aiokafka produce and consume of the same records, chDB
insert of the same rows), events/s accepted and stored, how long the backlog took to drain,
POST -> row visible latency, and the pipeline/floor ratio. Starts deploy/kafka on its own
unless ``--bootstrap`` (or TRACKHOUSE_KAFKA_BOOTSTRAP).

    python bench/bench_worker.py --split --seconds 30 --rate 10000
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

import msgspec  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402

from bench.bench_embedded import Load, process_cpu_seconds, stage_and_insert_floor  # noqa: E402
from bench.workload import Workload  # noqa: E402
from pipeline.kafka import envelope  # noqa: E402
from pipeline.kafka.publisher import KafkaPublisher  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.stages.normalize import RequestInfo, normalize  # noqa: E402
from schemas.events import NativeEvent  # noqa: E402
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


async def kafka_floor(bootstrap: str, topic: str, events: int = 100_000) -> tuple[float, float]:
    """(produce events/s, consume events/s) of plain aiokafka for the same records the edge
    sends: the workload's raw events, 200 to a request, one array record per partition, lz4."""
    now = int(time.time() * 1000)
    info = RequestInfo("prj_bench", now)
    raws = [
        normalize(msgspec.convert(doc, NativeEvent), info, 3_600_000)
        for doc in Workload().batch(events, now)
    ]
    publisher = KafkaPublisher(Settings(kafka_bootstrap=bootstrap, topic_raw=topic))
    await publisher.start()
    try:
        await publisher.publish(raws[:200])  # creates the topic, warms the connection
        start = time.perf_counter()
        requests = [raws[i : i + 200] for i in range(0, len(raws), 200)]
        for i in range(0, len(requests), 8):  # 8 requests in flight, as concurrent POSTs
            await asyncio.gather(*(publisher.publish(r) for r in requests[i : i + 8]))
        produce_rate = len(raws) / (time.perf_counter() - start)
    finally:
        await publisher.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        start, seen = time.perf_counter(), 0
        while seen < len(raws) + 200:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                seen += sum(len(envelope.unpack_raw(r.value)) for r in records)
        consume_rate = seen / (time.perf_counter() - start)
    finally:
        await consumer.stop()
    return produce_rate, consume_rate


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
    produce_floor, consume_floor = asyncio.run(kafka_floor(args.bootstrap, f"floor.{suffix}"))
    _, insert_floor = stage_and_insert_floor()
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
        TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND="0",  # one key offers the whole load
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
        load = Load(server, project["secret_key"], args.rate, args.batch, args.seconds, first_probe)
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
    stored_rate = result["stored_at_deadline"] / result["send_seconds"]
    print(f"floor  aiokafka produce (edge's records, lz4, acks=all): {produce_floor:10,.0f} ev/s")
    print(f"floor  aiokafka consume of the same records:            {consume_floor:10,.0f} ev/s")
    print(f"floor  chDB insert (the sink's path), same rows:        {insert_floor:10,.0f} rows/s")
    floor = min(produce_floor, consume_floor, insert_floor)
    print(f"pipeline stored during load / lowest floor:          {stored_rate / floor:10.2f}")
    per_thousand = 1000 / max(result["stored_total"], 1)
    print(
        "CPU ms per 1,000 stored (to the end): "
        + ", ".join(f"{role} {seconds * per_thousand * 1000:.0f}" for role, seconds in cpu.items())
        + f"; {sum(cpu.values()) / result['drained_seconds'] / os.cpu_count():.0%} of the cores"
    )


if __name__ == "__main__":
    main()
