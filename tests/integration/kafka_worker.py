"""A Kafka-mode worker for the integration tests (``trackhouse worker`` with topics and an app id
of its own), records produced straight to a topic, and what to print when events go missing."""

from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from pprint import pformat

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.helpers import fetch
from tests.integration.server import Server
from tests.kafka_broker import consume

TOPIC_FIELDS = ("raw", "enriched", "identities", "dead", "notifications")


def worker_env(bootstrap: str, **extra: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    env = {f"TRACKHOUSE_TOPIC_{name.upper()}": f"{name}.{suffix}" for name in TOPIC_FIELDS}
    env.update(
        TRACKHOUSE_KAFKA_BOOTSTRAP=bootstrap,
        TRACKHOUSE_FAUST_APP_ID=f"trackhouse-test-{suffix}",
        TRACKHOUSE_FAUST_STORE="memory://",
        TRACKHOUSE_PROCESS_FLUSH_SECONDS="0.1",
        TRACKHOUSE_LOG_LEVEL="warning",
        TRACKHOUSE_FAUST_SESSION_TIMEOUT_SECONDS="10",
    )
    env.update(extra)
    return env


@dataclass
class Worker(Server):
    command: tuple[str, ...] = ("worker",)
    projects: tuple = field(default_factory=tuple)

    def topic(self, name: str) -> str:
        return self.env[f"TRACKHOUSE_TOPIC_{name.upper()}"]

    def stop(self) -> int:
        """SIGTERM: the Faust worker stops its agents and the HTTP API, then exits 0."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(90)
        code = self.process.returncode
        return 0 if code in (0, -signal.SIGTERM) else code


def start_worker(data_dir: Path, env: dict[str, str], port: int | None = None) -> Worker:
    worker = Worker(data_dir, env=env) if port is None else Worker(data_dir, env=env, port=port)
    return worker.start(timeout=120)


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:  # one by one: their order is the test's
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def where_missing(bootstrap: str, server: Worker, missing: set[str]) -> dict:
    """On failure: how far each missing event got (topic, partition, offset)."""
    found: dict[str, list] = {message_id: [] for message_id in missing}
    for name in ("raw", "enriched"):
        for record in asyncio.run(consume(bootstrap, server.topic(name), 10**9, timeout=10)):
            try:
                value = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):  # one event, or an enriched batch
                value = value.get("events", [value])
            for event in value:
                if event.get("message_id") in found:
                    found[event["message_id"]].append((name, record.partition, record.offset))
    return {
        "events": found,
        "committed": asyncio.run(committed_offsets(bootstrap, server)),
        "log_ends": asyncio.run(log_ends(bootstrap, [server.topic("raw")])),
        "warnings": notable_log_lines(server.log()),
    }


def report(*parts: object) -> str:
    """A failed assertion's message, whole: pytest cuts a non-string message to 240 chars."""
    return "\n".join(part if isinstance(part, str) else pformat(part, width=100) for part in parts)


def notable_log_lines(log: str, limit: int = 40) -> list[str]:
    """On failure: the worker's warnings and errors (and Faust's agent tracebacks), oldest
    first, each once: a stall shows there, while the log's tail is mostly routine."""
    seen: dict[str, None] = {}
    for line in log.splitlines():
        if any(mark in line for mark in ('"warning"', '"error"', '"critical"', "tracebacks")):
            seen.setdefault(line[:600], None)
    return list(seen)[-limit:]


async def log_ends(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """On failure: the end offset of every partition of ``topics``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer.topics()  # metadata of every topic
        tps = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {f"{tp.topic}/{tp.partition}": offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, server: Worker) -> dict[str, int]:
    """On failure: the worker group's committed offset of every partition it consumed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        group = server.env["TRACKHOUSE_FAUST_APP_ID"]
        offsets = await admin.list_consumer_group_offsets(group)
        return {f"{tp.topic}/{tp.partition}": meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


def stored_ids(server: Worker, project: dict, **params: str) -> set[str]:
    """``message_id`` of every event the read API lists."""
    ids: set[str] = set()
    for offset in range(0, 100_000, 1000):
        page = fetch(server, project, limit=1000, offset=offset, **params)["events"]
        ids.update(row["message_id"] for row in page)
        if len(page) < 1000:
            return ids
    return ids
