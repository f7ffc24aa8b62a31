"""The edge's Kafka publisher: raw events to ``events.raw``, answered only once acknowledged."""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from pipeline.edge.publisher import PublishUnavailableError
from pipeline.kafka import envelope
from pipeline.kafka.compression import use_fast_lz4
from pipeline.settings import Settings
from schemas.records import RawEvent, encode_record

log = structlog.get_logger(__name__)
# aiokafka's partitioner hashes in pure Python (~10 µs a key); visitors come back, so cache it.
_murmur2 = functools.lru_cache(maxsize=1 << 16)(murmur2)


def partition_of(key: bytes, partitions: list[int]) -> int:
    """The partition of ``key`` as Kafka's default partitioner (and aiokafka's) picks it."""
    return partitions[(_murmur2(key) & 0x7FFFFFFF) % len(partitions)]


def record_key(event: RawEvent) -> bytes:
    """Project + visitor (or user, for server-side events): one visitor stays on one partition."""
    visitor = event.visitor_id or f"user:{event.user_id}"
    return f"{event.project_id}\x00{visitor}".encode()


class KafkaPublisher:
    """aiokafka producer with acks=all, idempotence, lz4 compression (cramjam) and batching."""

    def __init__(self, settings: Settings, send_timeout_seconds: float | None = None) -> None:
        self.topic = settings.topic_raw
        self.bootstrap = settings.kafka_bootstrap
        self.send_timeout = send_timeout_seconds or settings.kafka_publish_timeout_seconds
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (inside the running event loop, as aiokafka requires)."""
        use_fast_lz4()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            compression_type="lz4",
            linger_ms=5,
            max_batch_size=1 << 20,
            request_timeout_ms=int(self.send_timeout * 1000),
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise PublishUnavailableError("the Kafka producer is not started")
        return self._producer

    async def readiness(self) -> str:
        """'' when a broker answers a fresh metadata request (within 2 s) that lists the raw
        topic; else why not."""
        try:
            cluster = await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2.0)
        except TimeoutError:
            return "no Kafka broker answered within 2 s"
        except KafkaError as exc:
            return f"Kafka: {type(exc).__name__}"
        if not cluster.brokers():
            return "no Kafka broker is reachable"
        if self.topic not in cluster.topics():
            return f"the topic {self.topic} does not exist"
        return ""

    async def _send_all(self, events: list[RawEvent]) -> None:
        """One record per partition (``envelope.pack_raw``), each event on its key's partition."""
        producer = self.producer
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
        try:
            await asyncio.wait_for(self._send_all(events), self.send_timeout)
        except (KafkaError, TimeoutError) as exc:
            log.error("kafka.publish_failed", error=type(exc).__name__, events=len(events))
            raise PublishUnavailableError("Kafka did not acknowledge the events") from exc
