"""Faust per-message overhead on a real broker, before building the worker on it.

Produces N realistic ``RawEvent`` records (``bench.workload`` -> ``normalize``, the bytes the edge
publishes) to a fresh 3-partition topic, then reads them back three ways, each in a process of
its own, and prints msgs/s side by side:

  aiokafka     a plain ``AIOKafkaConsumer`` with ``getmany`` (the floor)
  faust-each   a Faust agent iterating the stream one message at a time
  faust-take   a Faust agent iterating ``stream.take(1000, within=0.5)``
  worker-each  faust-each with the worker's consumer (``pipeline.runtime.faust_consumer``,
               at-least-once)

No side decodes the values: this measures the transport/framework cost per message. The rate is
taken from the first message to the N-th (steady state); "wall" includes start-up (group join,
Faust's rebalance) for reference.

    python bench/bench_faust_overhead.py                       # starts deploy/kafka on its own
    python bench/bench_faust_overhead.py --bootstrap 127.0.0.1:9092 --messages 100000 [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = ("aiokafka", "faust-each", "faust-take", "worker-each")
TAKE_SIZE, TAKE_WITHIN = 1000, 0.5


def raw_records(count: int) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of ``count`` realistic raw events, as the edge's publisher sends them."""
    import msgspec

    from bench.workload import Workload
    from pipeline.kafka.publisher import record_key
    from pipeline.stages.normalize import RequestInfo, normalize
    from schemas.events import NativeEvent
    from schemas.records import encode_record

    now = int(time.time() * 1000)
    info = RequestInfo("prj_bench", now, client_ip="81.2.69.142")
    out = []
    for doc in Workload().batch(count, now):
        raw = normalize(msgspec.convert(doc, NativeEvent), info, 3_600_000)
        out.append((record_key(raw), encode_record(raw)))
    return out


async def produce(bootstrap: str, topic: str, count: int) -> float:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    records = raw_records(count)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type="lz4",
        linger_ms=5,
        max_batch_size=1 << 20,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for i in range(0, len(records), 5000):
            sends = [await producer.send(topic, v, key=k) for k, v in records[i : i + 5000]]
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return count / (time.perf_counter() - started)


def report(mode: str, count: int, first: float, last: float, began: float) -> None:
    sys.stdout.write(
        orjson.dumps(
            {
                "mode": mode,
                "messages": count,
                "seconds": round(last - first, 3),
                "rate": round(count / (last - first)),
                "wall": round(last - began, 3),
            }
        ).decode()
        + "\n"
    )
    sys.stdout.flush()


async def consume_aiokafka(bootstrap: str, topic: str, count: int, began: float) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        max_poll_records=10_000,
    )
    await consumer.start()
    seen, first = 0, 0.0
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                if messages and not first:
                    first = time.perf_counter()
                seen += len(messages)
            if batch:
                await consumer.commit()
    finally:
        last = time.perf_counter()
        await consumer.stop()
    report("aiokafka", seen, first, last, began)


def consume_faust(bootstrap: str, topic: str, count: int, mode: str, began: float) -> None:
    import faust

    from pipeline.runtime.faust_consumer import use_at_least_once_consumer

    if os.environ.get("BENCH_UVLOOP"):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = faust.App(
        f"bench-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        topic_partitions=3,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    if mode == "worker-each":
        use_at_least_once_consumer(app)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "first": 0.0}
    take = mode == "faust-take"

    def tick(n: int) -> None:
        if not seen["first"]:
            seen["first"] = time.perf_counter()
        seen["n"] += n
        if seen["n"] >= count:
            report(mode, seen["n"], seen["first"], time.perf_counter(), began)
            os._exit(0)  # a bench: no need for an orderly shutdown

    @app.agent(source)
    async def per_message(stream):
        if take:
            async for values in stream.take(TAKE_SIZE, within=TAKE_WITHIN):
                tick(len(values))
        else:
            async for _value in stream:
                tick(1)

    worker = faust.Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def child(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    if args.mode == "aiokafka":
        asyncio.run(consume_aiokafka(args.bootstrap, args.topic, args.messages, began))
    else:
        consume_faust(args.bootstrap, args.topic, args.messages, args.mode, began)


def run_mode(mode: str, bootstrap: str, topic: str, count: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--bootstrap", bootstrap, "--topic", topic,
         "--messages", str(count)],
        capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    marker = '{"mode"'  # Faust may print a spinner's escape codes before it
    lines = [line[line.index(marker) :] for line in out.stdout.splitlines() if marker in line]
    if not lines:
        raise RuntimeError(f"{mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return orjson.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TRACKHOUSE_KAFKA_BOOTSTRAP", ""))
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--topic", default="")
    parser.add_argument("--uvloop", action="store_true", help="run the Faust sides on uvloop")
    parser.add_argument("--child", dest="mode", choices=MODES, default=None)
    args = parser.parse_args()
    if args.uvloop:
        os.environ["BENCH_UVLOOP"] = "1"
    if args.mode:
        child(args)
        return

    broker = None
    if not args.bootstrap:
        from tests.kafka_broker import LocalBroker

        broker = LocalBroker(Path(tempfile.mkdtemp(prefix="bench-kafka-")))
        args.bootstrap = broker.start()
    try:
        topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
        produced = asyncio.run(produce(args.bootstrap, topic, args.messages))
        print(f"produced {args.messages} raw events to {topic}: {produced:,.0f} msgs/s")
        results = [run_mode(mode, args.bootstrap, topic, args.messages) for mode in MODES]
    finally:
        if broker is not None:
            broker.stop()
    floor = results[0]["rate"]
    print(f"{'consumer':<12} {'msgs/s':>10} {'vs aiokafka':>12} {'us/msg':>8} {'wall s':>8}")
    for r in results:
        print(
            f"{r['mode']:<12} {r['rate']:>10,} {r['rate'] / floor:>11.0%} "
            f"{1e6 / r['rate']:>8.1f} {r['wall']:>8.1f}"
        )


if __name__ == "__main__":
    main()
