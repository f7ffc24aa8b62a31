"""``send_batched`` against a real broker: records, headers, partitions, order and offsets."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.kafka.batches import OutRecord, send_batched
from pipeline.kafka.publisher import partition_of
from tests.kafka_broker import consume


async def _create(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


def test_records_go_in_batches_per_partition_in_order_with_the_last_offsets(kafka):
    topic = f"batches.{uuid.uuid4().hex[:8]}"
    # 3 KB records in 16 KB batches: each partition's records need several batches
    records = [
        OutRecord(topic, f"key-{n % 9}".encode(), b"%05d" % n + b"x" * 3000, [("n", b"%d" % n)])
        for n in range(60)
    ]
    records += [OutRecord(topic, b"pinned", b"to partition 0", None, partition=0)]

    async def scenario() -> tuple[dict, list]:
        await _create(kafka, topic, 3)
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka, acks="all", compression_type="lz4", max_batch_size=16384
        )
        await producer.start()
        try:
            first = await send_batched(producer, records[:30])
            second = await send_batched(producer, records[30:])
        finally:
            await producer.stop()
        return {**first, **second}, await consume(kafka, topic, len(records))

    last, consumed = asyncio.run(scenario())
    assert len(consumed) == len(records)
    for record in consumed[:-1]:
        if record.value != b"to partition 0":
            assert record.partition == partition_of(record.key, [0, 1, 2])
            assert dict(record.headers) == {"n": record.value[:5].lstrip(b"0") or b"0"}
    assert any(r.value == b"to partition 0" and r.partition == 0 for r in consumed)
    for partition in range(3):
        in_partition = [r for r in consumed if r.partition == partition]
        numbers = [int(r.value[:5]) for r in in_partition if r.value[:1].isdigit()]
        assert numbers == sorted(numbers)  # sent in order, read in order
        assert last[(topic, partition)] == max(r.offset for r in in_partition)
