"""The edge's Kafka publisher: raw events to ``events.raw``, answered only once acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import defaultdict

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from pipeline.kafka import backoff, envelope
from pipeline.kafka.compression import use_fast_lz4
from pipeline.publishing import PublishUnavailableError
from pipeline.settings import Settings
from schemas.keys import event_key
from schemas.records import RawEvent, encode_record

log = structlog.get_logger(__name__)
# aiokafka's partitioner hashes in pure Python (~10 µs a key); visitors come back, so cache it.
_murmur2 = functools.lru_cache(maxsize=1 << 16)(murmur2)


def partition_of(key: bytes, partitions: list[int]) -> int:
    """The partition of ``key`` as Kafka's default partitioner (and aiokafka's) picks it."""
    return partitions[(_murmur2(key) & 0x7FFFFFFF) % len(partitions)]


# Project + visitor (or user, for server-side events): one visitor stays on one partition.
record_key = event_key


class KafkaPublisher:
    """aiokafka producer with acks=all, idempotence, lz4 compression (cramjam) and batching.

    A failed publish leaves the producer *stale*: aiokafka gives every batch it drains an
    idempotent sequence number, also the batches that then expire or fail during a broker
    outage, and the broker refuses every later batch of that producer id with
    ``OutOfOrderSequenceNumber`` (issue 16: the edge answered 503 for minutes after the broker
    came back). A stale producer is replaced by a fresh one (new producer id, sequences from
    0) before the next publish or readiness check, one attempt per ``RENEW_INTERVAL_SECONDS``;
    until one starts, publishes fail fast with 503 and ``ready`` is false. The old producer
    is closed in the background (what it still delivers was answered 503: a client's retry
    collapses onto the same event ids)."""

    RENEW_INTERVAL_SECONDS = 1.0

    def __init__(self, settings: Settings, send_timeout_seconds: float | None = None) -> None:
        self.topic = settings.topic_raw
        self.bootstrap = settings.kafka_bootstrap
        self.send_timeout = send_timeout_seconds or settings.kafka_publish_timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._stale = False
        self._renewing: asyncio.Task[bool] | None = None
        self._renew_started = 0.0
        self._closing: set[asyncio.Task[None]] = set()
        self.renewals = 0

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            compression_type="lz4",
            linger_ms=5,
            max_batch_size=1 << 20,
            request_timeout_ms=int(self.send_timeout * 1000),
        )

    async def start(self) -> None:
        """Connect (inside the running event loop, as aiokafka requires)."""
        use_fast_lz4()
        backoff.install()
        self._producer = self._new_producer()
        await self._producer.start()

    async def stop(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(BaseException):
                await self._renewing
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise PublishUnavailableError("the Kafka producer is not started")
        return self._producer

    def _is_stale(self) -> bool:
        sender = getattr(self._producer, "_sender", None)
        task = getattr(sender, "sender_task", None)
        return self._stale or (task is not None and task.done())

    async def _fresh(self) -> AIOKafkaProducer:
        """The producer, replaced first when stale (``PublishUnavailableError`` while no new
        one could start)."""
        producer = self.producer
        if not self._is_stale():
            return producer
        if self._renewing is None or self._renewing.done():
            if time.monotonic() - self._renew_started < self.RENEW_INTERVAL_SECONDS:
                raise PublishUnavailableError("Kafka is unavailable")
            self._renew_started = time.monotonic()
            self._renewing = asyncio.create_task(self._renew())
        if not await asyncio.shield(self._renewing):
            raise PublishUnavailableError("Kafka is unavailable")
        return self.producer

    async def _renew(self) -> bool:
        fresh = self._new_producer()
        try:
            await asyncio.wait_for(fresh.start(), self.send_timeout)
        except (KafkaError, OSError, TimeoutError):
            self._close_in_background(fresh)
            return False
        old, self._producer, self._stale = self._producer, fresh, False
        self.renewals += 1
        log.warning("kafka.producer_renewed", renewals=self.renewals)
        if old is not None:
            self._close_in_background(old)
        return True

    def _close_in_background(self, producer: AIOKafkaProducer) -> None:
        async def close() -> None:
            try:
                await asyncio.wait_for(producer.stop(), 30)
            except Exception as exc:  # it is dropped either way
                log.warning("kafka.producer_close_failed", error=type(exc).__name__)

        task = asyncio.create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def readiness(self) -> str:
        """'' when the producer is usable (renewed first if stale) and a broker answers a fresh
        metadata request (within 2 s) that lists the raw topic; else why not."""
        try:
            producer = await self._fresh()
        except PublishUnavailableError:
            return "the Kafka producer failed and no new one could start yet"
        try:
            cluster = await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
        except TimeoutError:
            return "no Kafka broker answered within 2 s"
        except KafkaError as exc:
            return f"Kafka: {type(exc).__name__}"
        if not cluster.brokers():
            return "no Kafka broker is reachable"
        if self.topic not in cluster.topics():
            return f"the topic {self.topic} does not exist"
        if self._is_stale():
            return "the Kafka producer failed a publish and is being renewed"
        return ""

    async def _send_all(self, producer: AIOKafkaProducer, events: list[RawEvent]) -> None:
        """One record per partition (``envelope.pack_raw``), each event on its key's partition."""
        partitions = sorted(await producer.partitions_for(self.topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for event in events:
            key = record_key(event)
            partition = partition_of(key, partitions)
            by_partition[partition].append((key, encode_record(event)))
        sends = [
            await producer.send(self.topic, value, key=key, partition=partition)
            for partition, keyed in by_partition.items()
            for key, value in envelope.pack_raw(keyed)
        ]
        await asyncio.gather(*sends)

    async def publish(self, events: list[RawEvent]) -> None:
        """Send and wait for the broker's acknowledgement of every event; ``503`` otherwise."""
        producer = await self._fresh()
        try:
            await asyncio.wait_for(self._send_all(producer, events), self.send_timeout)
        except (KafkaError, TimeoutError) as exc:
            if producer is self._producer:
                self._stale = True  # its sequence numbers may have a gap now
            log.error("kafka.publish_failed", error=type(exc).__name__, events=len(events))
            raise PublishUnavailableError("Kafka did not acknowledge the events") from exc
