"""Several events per Kafka record: packing on the way in, unpacking on the way out."""

from __future__ import annotations

import os

import msgspec
from aiokafka.partitioner import DefaultPartitioner

from pipeline.kafka import envelope
from pipeline.kafka.publisher import partition_of
from schemas.batches import EnrichedBatch
from schemas.records import RawEvent, encode_record
from schemas.sessions import Session
from tests.factories import enriched


def raw(i: int) -> RawEvent:
    return RawEvent(f"id{i:03d}", "prj", "track", "click", 1_000, 2_000, visitor_id=f"v{i:03d}")


def test_raw_events_pack_into_arrays_a_lone_event_stays_an_object_under_its_key():
    keyed = [(f"k{i}".encode(), encode_record(raw(i))) for i in range(5)]
    [(key, value)] = envelope.pack_raw(keyed)
    assert key is None and value.startswith(b"[")
    assert [msgspec.json.decode(e, type=RawEvent) for e in envelope.unpack_raw(value)] == [
        raw(i) for i in range(5)
    ]
    assert envelope.pack_raw(keyed[:1]) == [(b"k0", keyed[0][1])]


def test_packing_splits_at_max_bytes_keeping_order_and_every_event():
    keyed = [(b"k", encode_record(raw(i))) for i in range(50)]
    size = len(keyed[0][1])
    records = envelope.pack_raw(keyed, max_bytes=10 * (size + 1))
    assert len(records) == 5
    assert all(len(value) <= 10 * (size + 1) + 1 for _, value in records)
    unpacked = [e for _, value in records for e in envelope.unpack_raw(value)]
    assert unpacked == [value for _, value in keyed]
    huge = [(b"k", b"x" * 100)]
    assert envelope.pack_raw(huge, max_bytes=10) == huge  # never an empty record


def test_a_value_that_is_not_an_array_of_objects_comes_back_whole_for_the_decode_stage():
    assert envelope.unpack_raw(b'{"event_id": "a"}') == [b'{"event_id": "a"}']
    assert envelope.unpack_raw(b"[{not json") == [b"[{not json"]
    assert envelope.unpack_raw(b"[1, {}]") == [b"1", b"{}"]  # each element fails on its own


def test_enriched_batches_carry_events_and_only_the_newest_version_of_each_session():
    sessions = [
        Session("s1", "p", "v", 1, 2, events=1, version=1),
        Session("s2", "p", "w", 1, 2, events=1, version=1),
        Session("s1", "p", "v", 1, 3, events=2, version=2),
    ]
    newest = envelope.newest_sessions(sessions)
    assert sorted((s.session_id, s.version) for s in newest) == [("s1", 2), ("s2", 1)]
    events = [enriched(event_id=f"e{i}") for i in range(30)]
    bodies = [encode_record(e) for e in events]
    values = envelope.pack_enriched(bodies, [encode_record(s) for s in newest], max_bytes=4096)
    assert len(values) > 1
    batches = [msgspec.json.decode(v, type=EnrichedBatch) for v in values]
    assert [e for b in batches for e in b.events] == events
    assert [s for b in batches for s in b.sessions] == newest


def test_the_edge_puts_each_event_on_the_partition_kafka_would_give_its_key():
    kafka = DefaultPartitioner()
    for count in (1, 3, 12):
        partitions = list(range(count))
        for _ in range(300):
            key = os.urandom(24)
            assert partition_of(key, partitions) == kafka(key, partitions, partitions)
