"""``send_batched`` against a real broker: records, headers, partitions, order and offsets."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.kafka.batches import OutRecord, send_batched
from pipeline.kafka.publisher import partition_of


async def _create(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _consume(bootstrap: str, topic: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(30):
            while len(records) < expected:
                for messages in (await consumer.getmany(timeout_ms=1000)).values():
                    records.extend(messages)
    finally:
        await consumer.stop()
    return records


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
        return {**first, **second}, await _consume(kafka, topic, len(records))

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
