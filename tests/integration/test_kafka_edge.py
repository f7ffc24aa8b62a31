"""The Kafka side of the edge against a real broker: topics, publishing, broker outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import msgspec
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource
from aiokafka.admin.config_resource import ConfigResourceType as ResourceType

from pipeline.edge.publisher import PublishUnavailableError
from pipeline.kafka import envelope
from pipeline.kafka.publisher import KafkaPublisher, partition_of
from pipeline.kafka.topics import COMPACTED_SEGMENT_BYTES, STATE_TABLE, create_topics, topic_specs
from pipeline.settings import Settings
from schemas.records import RawEvent
from tests.kafka_broker import LocalBroker, docker_engine_answers


def settings_for(bootstrap: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=bootstrap,
        topic_raw=f"events.raw.{suffix}",
        topic_enriched=f"events.enriched.{suffix}",
        topic_identities=f"identities.{suffix}",
        topic_dead=f"events.dead.{suffix}",
        topic_notifications=f"notifications.{suffix}",
        faust_app_id=f"trackhouse-{suffix}",
    )


def raw(visitor: str, n: int) -> RawEvent:
    return RawEvent(
        event_id=str(uuid.uuid4()),
        project_id="prj_k",
        type="track",
        event=f"e{n}",
        timestamp=1_767_225_600_000 + n,
        received_at=1_767_225_600_000,
        visitor_id=visitor,
        ip="81.2.69.142",
    )


async def consume_all(settings: Settings, expected: int) -> list:
    """Records of the raw topic until they hold ``expected`` events (arrays count each)."""
    consumer = AIOKafkaConsumer(
        settings.topic_raw,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(30):
            while sum(len(envelope.unpack_raw(r.value)) for r in records) < expected:
                for messages in (await consumer.getmany(timeout_ms=1000)).values():
                    records.extend(messages)
    finally:
        await consumer.stop()
    return records


def test_topics_are_created_idempotently_with_their_settings(kafka):
    settings = settings_for(kafka)
    first = asyncio.run(create_topics(settings))
    assert set(first.values()) == {"created"} and len(first) == 8  # 5 + Faust's own 3
    second = asyncio.run(create_topics(settings))
    assert set(second.values()) == {"exists"}

    async def describe() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            names = [spec.name for spec in topic_specs(settings)]
            return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
        finally:
            await admin.close()

    partitions = asyncio.run(describe())
    for group in (settings.faust_app_id, f"{settings.faust_app_id}-sink"):
        assert partitions.pop(f"{group}-__assignor-__leader") == 1
    assert set(partitions.values()) == {settings.topic_partitions}

    async def changelog_config() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            name = f"{settings.faust_app_id}-{STATE_TABLE}-changelog"
            [response] = await admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
            [(_, _, _, _, entries)] = response.resources
            return {entry[0]: entry[1] for entry in entries}
        finally:
            await admin.close()

    config = asyncio.run(changelog_config())
    assert config["cleanup.policy"] == "compact"
    assert config["segment.bytes"] == str(COMPACTED_SEGMENT_BYTES)
    day_ms = str(24 * 3_600_000)  # an erased visitor's state leaves the changelog in ~a day
    assert config["max.compaction.lag.ms"] == config["delete.retention.ms"] == day_ms


def test_a_request_travels_as_one_record_per_partition_each_event_on_its_keys_partition(kafka):
    settings = settings_for(kafka)
    asyncio.run(create_topics(settings))
    events = [raw(f"vis_{n % 7}", n) for n in range(30)]

    async def scenario() -> list:
        publisher = KafkaPublisher(settings)
        await publisher.start()
        try:
            await publisher.publish(events[:10])
            await publisher.publish(events[10:])
        finally:
            await publisher.stop()
        return await consume_all(settings, len(events))

    records = asyncio.run(scenario())
    assert len(records) <= 2 * settings.topic_partitions  # one per partition and request
    by_visitor: dict[str, list[tuple[int, RawEvent]]] = {}
    for record in records:
        for element in envelope.unpack_raw(record.value):
            event = msgspec.json.decode(element, type=RawEvent)
            by_visitor.setdefault(event.visitor_id, []).append((record.partition, event))
    assert sum(len(v) for v in by_visitor.values()) == 30
    partitions = list(range(settings.topic_partitions))
    for visitor, placed in by_visitor.items():
        key = f"prj_k\x00{visitor}".encode()
        assert {partition for partition, _ in placed} == {partition_of(key, partitions)}
        in_order = [int(event.event[1:]) for _, event in placed]
        assert in_order == sorted(in_order)  # a visitor's events keep their order
    assert by_visitor["vis_0"][0][1].ip == "81.2.69.142"  # the raw topic still has the IP


@pytest.mark.skipif(docker_engine_answers(), reason="needs the local broker it can stop")
def test_broker_outage_is_reported_not_acknowledged_and_recovers(tmp_path):
    broker = LocalBroker(tmp_path / "kafka")
    settings = settings_for(broker.start())
    try:
        asyncio.run(create_topics(settings))

        async def scenario() -> None:
            publisher = KafkaPublisher(settings, send_timeout_seconds=3)
            await publisher.start()
            try:
                await publisher.publish([raw("v", 0)])
                assert await publisher.readiness() == ""
                broker.stop()
                assert await publisher.readiness()  # why not ready: what /readyz reports
                with pytest.raises(PublishUnavailableError):
                    await publisher.publish([raw("v", 1)])
                broker.start()
                for _ in range(30):  # the producer reconnects by itself
                    try:
                        await publisher.publish([raw("v", 2)])
                        break
                    except PublishUnavailableError:
                        await asyncio.sleep(1)
                else:
                    pytest.fail("publishing did not recover after the broker came back")
            finally:
                await publisher.stop()

        asyncio.run(scenario())
        records = asyncio.run(consume_all(settings, 2))
        events = [orjson.loads(r.value)["event"] for r in records]
        assert "e0" in events and "e2" in events
    finally:
        broker.stop()


@pytest.mark.slow
@pytest.mark.skipif(docker_engine_answers(), reason="needs the local broker it can stop")
def test_a_stream_through_a_broker_outage_recovers_by_itself_with_each_ack_stored_once(tmp_path):
    """A steady stream of publishes while the broker is stopped and started again: publishes
    that failed during the outage must not leave the idempotent producer unable to write
    (``OutOfOrderSequenceNumber`` on every later batch), and ``ready`` must tell the truth."""
    broker = LocalBroker(tmp_path / "kafka")
    settings = settings_for(broker.start())
    acked: list[str] = []
    try:
        asyncio.run(create_topics(settings))

        async def stream(publisher: KafkaPublisher, until: asyncio.Event, tally: dict) -> None:
            n = 0
            while not until.is_set():
                events = [raw(f"v{i % 11}", n * 10 + i) for i in range(10)]
                n += 1
                try:
                    await publisher.publish(events)
                except PublishUnavailableError:
                    tally["refused"] += 1
                    tally["last_refused"] = time.monotonic()
                else:
                    acked.extend(e.event_id for e in events)
                    tally["last_acked"] = time.monotonic()
                await asyncio.sleep(0.02)

        async def scenario() -> float:
            publisher = KafkaPublisher(settings, send_timeout_seconds=2)
            await publisher.start()
            until, tally = asyncio.Event(), {"refused": 0, "last_refused": 0.0}
            loaders = [asyncio.create_task(stream(publisher, until, tally)) for _ in range(4)]
            try:
                await asyncio.sleep(2)
                assert acked and not tally["refused"]
                await asyncio.to_thread(broker.stop)
                await asyncio.sleep(8)  # publishes time out and fail meanwhile
                assert tally["refused"] and await publisher.readiness()
                await asyncio.to_thread(broker.start)
                back = time.monotonic()
                before = len(acked)
                async with asyncio.timeout(30):  # it recovers by itself
                    while len(acked) < before + 400:
                        await asyncio.sleep(0.2)
                recovered = time.monotonic() - back
                await asyncio.sleep(3)
                assert tally["last_refused"] < time.monotonic() - 2  # no more refusals
                assert await publisher.readiness() == ""
                return recovered
            finally:
                until.set()
                await asyncio.gather(*loaders)
                await publisher.stop()

        recovered = asyncio.run(scenario())
        assert recovered < 15
        records = asyncio.run(consume_all(settings, len(acked)))
        ids = [
            msgspec.json.decode(element, type=RawEvent).event_id
            for record in records
            for element in envelope.unpack_raw(record.value)
        ]
        counts = Counter(ids)
        assert all(counts[event_id] == 1 for event_id in acked)  # each ack stored once
    finally:
        broker.stop()


def test_topics_create_cli_is_idempotent(kafka, tmp_path):
    import os
    import subprocess
    import sys

    settings = settings_for(kafka)
    env = {
        **os.environ,
        "TRACKHOUSE_TOPIC_RAW": settings.topic_raw,
        "TRACKHOUSE_TOPIC_ENRICHED": settings.topic_enriched,
        "TRACKHOUSE_TOPIC_IDENTITIES": settings.topic_identities,
        "TRACKHOUSE_TOPIC_DEAD": settings.topic_dead,
        "TRACKHOUSE_TOPIC_NOTIFICATIONS": settings.topic_notifications,
        "TRACKHOUSE_DATA_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "pipeline.cli", "topics", "create", "--bootstrap", kafka]
    outputs = [
        orjson.loads(
            subprocess.run(command, env=env, capture_output=True, check=True, timeout=60).stdout
        )
        for _ in range(2)
    ]
    assert outputs[0][settings.topic_raw] == "created"
    assert outputs[1][settings.topic_raw] == "exists"
