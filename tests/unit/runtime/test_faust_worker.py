"""The Kafka worker's pure parts: dead letters, sink batch decoding, insert retries (the agents
themselves run against a real broker in tests/integration/test_kafka_worker.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from tenacity import wait_none

from pipeline.kafka import envelope
from pipeline.runtime.core.batch import RowBatch
from pipeline.runtime.faust_app import TrackhouseWorker
from pipeline.runtime.faust_records import (
    LINK,
    RECORD_HEADER,
    SESSION_HEADER,
    USER,
    acked_only_when_done,
    dead_letter,
)
from pipeline.runtime.faust_service import faust_loglevel
from pipeline.settings import Settings
from schemas.records import IdentityLink, UserUpdate, encode_record
from schemas.sessions import Session
from tests.factories import enriched


def message(topic: str, offset: int = 7, headers=None) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic, partition=2, offset=offset, headers=headers or [], key=b"prj_a\0vis_1"
    )


def event(topic: str, value: bytes, headers=None) -> SimpleNamespace:
    return SimpleNamespace(message=message(topic, headers=headers), value=value)


class FlakyClickHouse:
    """Fails the first ``failures`` inserts, then records what it is given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.tables: list[str] = []

    def insert_once(self, block) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("ClickHouse is away")
        self.tables.append(block.table)


@pytest.fixture
def worker(tmp_path):
    settings = Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path, faust_store="memory://")
    return TrackhouseWorker(settings, enricher=None, clickhouse=FlakyClickHouse(2))  # type: ignore[arg-type]


def test_dead_letter_keeps_text_or_base64_and_where_it_came_from():
    text = dead_letter(b"{oops", "DecodeError: x", "decode", message("events.raw"))
    assert (text.record, text.encoding, text.stage) == ("{oops", "text", "decode")
    assert (text.topic, text.partition, text.offset) == ("events.raw", 2, 7)
    binary = dead_letter(b"\xff\x00", "r" * 2000, "decode", message("events.raw"))
    assert (binary.record, binary.encoding, len(binary.reason)) == ("/wA=", "base64", 500)
    assert dead_letter(None, "tombstone", "decode", message("t")).record == ""
    assert text.project_id == "prj_a"  # from the record key when the record is unreadable
    again = dead_letter(b"{oops", "DecodeError: x", "decode", message("events.raw"))
    assert again.dead_id == text.dead_id  # a re-delivered failure is one dead letter
    assert dead_letter(b"{oops", "x", "decode", message("events.raw", 8)).dead_id != text.dead_id


def test_sink_batch_decodes_events_sessions_links_and_users(worker):
    s = worker.settings
    session = Session("s1", "p", "v", 1, 2, events=1, version=1)
    link = IdentityLink("p", "v", "u", 3)
    user = UserUpdate("p", "u", 3)
    batch = worker.sink.decode(
        [
            event(
                s.topic_enriched,
                encode_record(enriched()),
                [(SESSION_HEADER, encode_record(session))],
            ),
            event(s.topic_identities, encode_record(link), [(RECORD_HEADER, LINK)]),
            event(s.topic_identities, encode_record(user), [(RECORD_HEADER, USER)]),
            event(s.topic_enriched, b"not json"),
            event(s.topic_dead, encode_record(dead_letter(b"{", "x", "decode", message("r")))),
        ]
    )
    assert len(batch.events) == 1 and batch.sessions == [session]
    assert batch.links == [link] and batch.users == [user]
    assert batch.undecodable == 1
    assert [(d.stage, d.record, d.project_id) for d in batch.dead] == [("decode", "{", "prj_a")]
    tables = [b.table for b in batch.blocks() if b.row_count]
    assert tables == ["identities", "events", "sessions", "users", "dead_letters"]


def test_sink_batch_decodes_enriched_batches_beside_single_enriched_records(worker):
    s = worker.settings
    many = [enriched() for _ in range(3)]
    session = Session("s1", "p", "v", 1, 2, events=3, version=3)
    value = envelope.pack_enriched([encode_record(e) for e in many], [encode_record(session)])
    batch = worker.sink.decode(
        [
            event(s.topic_enriched, value[0], [(RECORD_HEADER, envelope.ENRICHED_BATCH)]),
            event(s.topic_enriched, encode_record(one := enriched())),
        ]
    )
    assert batch.events == [*many, one] and batch.sessions == [session]
    assert batch.undecodable == 0


def test_a_failed_insert_is_retried_until_it_succeeds_never_skipped(worker, monkeypatch):
    monkeypatch.setattr("pipeline.retries.INSERT_WAIT", wait_none())
    batch = RowBatch()
    batch.events.append(enriched())
    asyncio.run(worker.sink.insert(batch))
    assert worker.clickhouse.attempts == 3  # two failures, then the insert
    assert worker.clickhouse.tables == ["events"]
    assert worker.sink.inserted == 1


def test_faust_log_levels():
    assert [faust_loglevel(x) for x in ("warning", "critical", "info", "nonsense")] == [
        "warn",
        "crit",
        "info",
        "info",
    ]


def test_an_unfinished_batch_is_never_acknowledged():
    done = [event("t", b"1"), event("t", b"2")]
    for e in done:
        e.message.acked = False
    with acked_only_when_done(done):
        pass
    assert not any(e.message.acked for e in done)  # take_events will ack them

    interrupted = [event("t", b"3")]
    interrupted[0].message.acked = False
    with pytest.raises(asyncio.CancelledError), acked_only_when_done(interrupted):
        raise asyncio.CancelledError
    assert interrupted[0].message.acked  # take_events' ack becomes a no-op: no commit


def test_the_worker_consumer_waits_at_most_300_ms_for_a_fetch(worker):
    from pipeline.runtime.faust_consumer import FETCH_MAX_WAIT_MS

    async def create() -> int:
        thread = worker.app.consumer._new_consumer_thread()
        consumer = thread._create_worker_consumer(worker.app.transport)
        return consumer._fetch_max_wait_ms

    assert asyncio.run(create()) == FETCH_MAX_WAIT_MS == 300  # Faust's own is 1,500


def test_the_sink_drops_rows_of_users_erased_after_their_record_was_written(worker):
    """A re-delivery (the consumer restarts from its committed offsets) of records written
    before an erasure must not bring the user back; records written after it are new data."""
    from pipeline.privacy.tombstones import Tombstones, user_subjects

    s = worker.settings
    erased_at = 10_000
    worker.sink.tombstones = Tombstones(dict.fromkeys(user_subjects("p", "u", ["v"]), erased_at))

    def written(at: int, topic: str, value: bytes, headers=None) -> SimpleNamespace:
        record = event(topic, value, headers)
        record.message.timestamp = at / 1000
        return record

    session = Session("s1", "p", "v", 1, 2, events=1, version=1)
    records = [
        written(at, s.topic_enriched, encode_record(e), [(SESSION_HEADER, encode_record(session))])
        for at, e in (
            (erased_at - 1, enriched(project_id="p", visitor_id="v")),
            (erased_at - 1, enriched(project_id="p", visitor_id="", user_id="u")),
            (erased_at - 1, enriched(project_id="p", visitor_id="other")),
            (erased_at + 1, enriched(project_id="p", visitor_id="v", event="after")),
        )
    ]
    records += [
        written(erased_at - 1, s.topic_identities, encode_record(IdentityLink("p", "v", "u", 3)),
                [(RECORD_HEADER, LINK)]),
        written(erased_at - 1, s.topic_identities, encode_record(UserUpdate("p", "u", 3)),
                [(RECORD_HEADER, USER)]),
    ]  # fmt: skip
    batch = worker.sink.decode(records)
    assert [(e.visitor_id, e.event) for e in batch.events] == [
        ("other", "clicked"),
        ("v", "after"),
    ]
    assert batch.sessions == [session]  # only from the record written after the erasure
    assert batch.links == [] and batch.users == []
