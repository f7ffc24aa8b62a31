"""Kafka mode's process agent (on ``events.raw``): a thin driver of the core's ``EventStep``.

Per ``take_events`` batch: decode (msgspec, from the raw bytes; a record is one event or an
array of them), enrich, then the core's sessionize + stitch with per-visitor state in a Faust
table keyed by ``project\\0visitor`` (changelog topic, RocksDB store by default; the record's
partition picks the table partition, and the edge put each event on its key's partition),
read and written through ``TableStates`` (the core's ``VisitorStates``). It publishes the
enriched batches to ``events.enriched``, ``notify`` events to ``notifications``, identity links
and user updates to ``identities`` (told apart by the ``trackhouse-record`` header). An event
that fails a stage goes to ``events.dead`` (``record.dead-letter.v1``, the event alone) and the
agent goes on.

Order within a batch: publish everything and wait for the broker's acks, *then* write the state
table, then the batch is acknowledged (``take_events`` acks when the loop body returns). After
a crash the batch is replayed: events whose state was written are recognised as re-deliveries
(sessionize keeps recent event ids) and were already published; the others are computed again
from the same state, so they are published again identically and collapse downstream.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import faust
import msgspec
import structlog
from faust.types import EventT
from rocksdict import WriteBatch

from pipeline import metrics
from pipeline.deadletter.letters import reason_of
from pipeline.kafka import envelope, internals
from pipeline.kafka.batches import OutRecord
from pipeline.kafka.envelope import ENRICHED_BATCH
from pipeline.kafka.topics import STATE_TABLE
from pipeline.plans.book import PlanBook
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.core.step import EventStep
from pipeline.runtime.faust_publish import BatchPublisher, Publishing
from pipeline.runtime.faust_records import (
    LINK,
    RECORD_HEADER,
    USER,
    VIOLATIONS,
    acked_only_when_done,
)
from pipeline.runtime.faust_records import dead_letter as raw_dead_letter
from pipeline.runtime.state_cache import StateCache
from pipeline.settings import Settings
from pipeline.stages.chain import Outcome
from pipeline.stages.enrich import Enricher
from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import StitchResult, VisitorIdentity
from pipeline.stages.validate import BlockedByPlan
from schemas.keys import state_key
from schemas.plans import PlanViolation
from schemas.records import RawEvent, decode_record, encode_record
from schemas.sessions import Session

log = structlog.get_logger(__name__)


class VisitorState(msgspec.Struct):
    """The state table's value: both stages' state of one (project, visitor)."""

    sessions: VisitorSessions
    identity: VisitorIdentity


def use_partition_of(stream: faust.StreamT, event: EventT) -> None:
    """Make ``event`` the current event *of this task*, which the state table reads to pick the
    store and changelog partition of a key (a batch mixes partitions). Only the task's context
    variable: ``take_events`` reads ``stream.current_event`` to pair buffered values with their
    events, so that attribute must stay as the stream left it."""
    saved = stream.current_event
    internals.set_current_event(stream, event)
    stream.current_event = saved


class TableStates:
    """The core's ``VisitorStates`` over the state table, for one batch: states written in
    this batch (``written``), then the worker's cache of recent batches, then the store.
    ``event`` is the Kafka event being processed: its partition picks the store's."""

    __slots__ = ("_key", "_state", "cache", "event", "last_event", "store", "stream", "written")

    def __init__(self, stream: faust.StreamT, store: Any, cache: StateCache[VisitorState]):
        self.stream, self.store, self.cache = stream, store, cache
        self.written: dict[bytes, VisitorState] = {}
        self.last_event: dict[bytes, EventT] = {}  # the event that last wrote each key
        self.event: Any = None
        self._key: bytes | None = None
        self._state: VisitorState | None = None

    def _load(self, key: bytes) -> VisitorState | None:
        state = self.written.get(key) or self.cache.get(key)
        if state is None:
            use_partition_of(self.stream, self.event)
            stored = self.store.get(key)  # the table's get would read RocksDB twice
            state = decode_record(stored, VisitorState) if stored else None
        self._key, self._state = key, state
        return state

    def sessions(self, key: bytes) -> VisitorSessions | None:
        state = self._load(key)
        return state.sessions if state else None

    def identity(self, key: bytes) -> VisitorIdentity | None:
        state = self._state if key == self._key else self._load(key)
        return state.identity if state else None

    def put(self, key: bytes, outcome: Outcome) -> None:
        self.written[key] = VisitorState(outcome.sessions_state, outcome.identity_state)
        self.last_event[key] = self.event
        self._key = None


def _identity_sends(topic: str, key: bytes, stitched: StitchResult) -> Iterator[OutRecord]:
    """The identity links and user updates an ``identify`` made, as records of ``topic``."""
    for link in stitched.links:
        yield OutRecord(topic, key, encode_record(link), [(RECORD_HEADER, LINK)])
    for user in stitched.user_updates:
        yield OutRecord(topic, key, encode_record(user), [(RECORD_HEADER, USER)])


class Outputs:
    """The core's ``Outputs`` here: what a run of processed events publishes, enriched events
    and their sessions packed per source ``partition`` (``envelope.pack_enriched``), other
    records one by one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events = 0
        self.partition = 0  # of the record being processed
        self._enriched: dict[int, list[bytes]] = defaultdict(list)
        self._sessions: dict[int, list[Session]] = defaultdict(list)
        self._others: list[OutRecord] = []

    def add(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._others.append(OutRecord(topic, key, value))

    def add_violations(self, violations: Sequence[PlanViolation]) -> None:
        """To the sink through the identities topic (``VIOLATIONS`` header)."""
        value = encode_record(violations)
        headers = [(RECORD_HEADER, VIOLATIONS)]
        self._others.append(OutRecord(self.settings.topic_identities, None, value, headers))

    def add_outcome(self, key: bytes, outcome: Outcome) -> None:
        assert outcome.event is not None
        s = self.settings
        body = encode_record(outcome.event)
        self.events += 1
        self._enriched[self.partition].append(body)
        if outcome.session is not None:
            self._sessions[self.partition].append(outcome.session)
        if outcome.event.notify:
            self.add(s.topic_notifications, key, body)
        if outcome.stitched is not None:
            self._others.extend(_identity_sends(s.topic_identities, key, outcome.stitched))

    def sends(self) -> list[OutRecord]:
        sends = list(self._others)
        topic, headers = self.settings.topic_enriched, [(RECORD_HEADER, ENRICHED_BATCH)]
        for partition, bodies in self._enriched.items():
            sessions = envelope.newest_sessions(self._sessions[partition])
            encoded = [encode_record(session) for session in sessions]
            for value in envelope.pack_enriched(bodies, encoded):
                sends.append(OutRecord(topic, None, value, headers))
        return sends


def put_in_store(
    stream: faust.StreamT,
    store: Any,
    sends: list[OutRecord],
    last_event: dict[bytes, EventT],
) -> None:
    """Put the batch's ``(topic, key, value, _, partition)`` states in the table's store only
    (its own setter would also send). RocksDB takes one write batch per partition, as Faust's
    changelog recovery writes them: putting keys one by one through the store cost ~2 µs of
    Python each (a partition lookup and an LRU index of keys this runtime never reads)."""
    open_partition_db = internals.partition_db_opener(store)
    if open_partition_db is None or not getattr(store, "use_rocksdict", False):
        for record in sends:  # the memory store (tests)
            use_partition_of(stream, last_event[record.key])  # the store picks the partition
            store[record.key] = record.value
        return
    batches: dict[int, WriteBatch] = defaultdict(lambda: WriteBatch(raw_mode=True))
    for record in sends:
        batches[record.partition].put(record.key, record.value)
    for partition, batch in batches.items():
        open_partition_db(partition).write(batch)


class ProcessAgent:
    """The process agent of a worker: ``run`` is the Faust agent."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        enricher: Enricher,
        tombstones: Tombstones,
        before_batch: Callable[[], Awaitable[None]],
        plans: PlanBook | None = None,
    ) -> None:
        self.settings = settings
        self.enricher = enricher
        self.tombstones = tombstones
        self.before_batch = before_batch  # re-reads the tombstones now and then
        self.plans = plans if plans is not None else PlanBook()
        self.step = EventStep(settings.session_timeout_seconds * 1000, self.plans)
        self.publisher = BatchPublisher(app)
        self.state = app.Table(
            STATE_TABLE,
            key_type=bytes,  # -> "raw" serializers for the store and the changelog
            value_type=bytes,
            partitions=settings.topic_partitions,
        )
        self.state_cache: StateCache[VisitorState] = StateCache(
            settings.worker_state_cache_visitors
        )
        app.on_partitions_revoked.connect(self.forget_cached_states)
        app.on_partitions_assigned.connect(self.forget_cached_states)

    async def forget_cached_states(self, *_: Any, **__: Any) -> None:
        self.state_cache.invalidate()

    async def run(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(
            self.settings.worker_take_records, within=self.settings.process_flush_seconds
        ):
            with acked_only_when_done(events):
                try:
                    await self.process_batch(stream, events)
                except BaseException:  # cached states may hold this batch's changes
                    self.state_cache.invalidate()
                    raise

    async def process_batch(self, stream: faust.StreamT, events: Sequence[EventT]) -> None:
        s, cache, step = self.settings, self.state_cache, self.step
        await self.before_batch()
        if self.plans.due:  # a version check every plan_reload_seconds, off the loop
            await asyncio.get_running_loop().run_in_executor(None, self.plans.refresh)
        tombstones, erased = self.tombstones, {}
        generation = cache.generation
        states = TableStates(stream, self.state.data, cache)
        outputs = Outputs(s)
        publishing: list[Publishing] = []
        dead = 0
        for event in events:
            if outputs.events >= s.process_batch_size:  # hand them to the producer as we go
                publishing.append(await self.publisher.start(outputs.sends()))
                outputs = Outputs(s)
            message = event.message
            outputs.partition, states.event = message.partition, event
            elements = envelope.unpack_raw(event.value)
            for index, value in enumerate(elements):
                stage, raw = "decode", None
                try:
                    raw = decode_record(value, RawEvent)
                    if tombstones.erased and tombstones.drops(
                        raw.project_id, raw.visitor_id, raw.user_id, raw.received_at
                    ):  # re-delivered after its user was erased: its state goes too
                        erased[state_key(raw.project_id, raw.visitor_key)] = event
                        metrics.EVENTS_ERASED.inc()
                        continue
                    stage = "enrich"
                    enriched_event = self.enricher.enrich(raw)
                    stage = "sessionize"
                    key = state_key(raw.project_id, raw.visitor_key)
                    if len(elements) == 1 and message.key:
                        key = message.key  # a producer's own key picks the state partition
                    step.run(key, enriched_event, states, outputs)
                except Exception as exc:
                    dead += 1
                    if isinstance(exc, BlockedByPlan):
                        stage = "validate"
                        metrics.EVENTS_BLOCKED.inc()
                    arrayed = index if len(elements) > 1 else None
                    letter = raw_dead_letter(value, reason_of(exc), stage, message, raw, arrayed)
                    outputs.add(s.topic_dead, message.key, encode_record(letter))
                    log.warning(
                        "worker.dead_letter",
                        stage=stage,
                        reason=letter.reason,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        index=index,
                    )
        publishing.append(await self.publisher.start(outputs.sends()))
        published = await self.publisher.published(publishing)
        await self._write_states(stream, states)  # only once the outputs are acked
        cache.put_all(states.written, generation)
        if erased:
            await self._forget_states(stream, erased, states.written)
        log.debug("worker.processed", records=len(events), dead=dead, published=published)

    async def _write_states(self, stream: faust.StreamT, states: TableStates) -> None:
        """Write the batch's visitor states as ``Table.__setitem__`` does (the store, then the
        changelog record on the event's partition, then the store's persisted offset), but
        send the changelog records in one burst and wait for their acks: Faust's per-key path
        (``send_soon`` + a callback per key) cost ~100 µs a key here, most of the worker."""
        table, store, last_event = self.state, self.state.data, states.last_event
        changelog = table.changelog_topic.get_topic_name()
        sends = [
            OutRecord(changelog, key, encode_record(state), None, last_event[key].message.partition)
            for key, state in states.written.items()
        ]
        put_in_store(stream, store, sends, last_event)
        for tp, offset in (await self.publisher.send_acked(sends)).items():
            store.set_persisted_offset(tp, offset)

    async def _forget_states(
        self, stream: faust.StreamT, erased: dict[bytes, EventT], written: dict[bytes, Any]
    ) -> None:
        """Delete the state of erased visitors met in this batch: from the store, and from the
        changelog (a tombstone record, which compaction removes)."""
        keys = {key: event for key, event in erased.items() if key not in written}
        if not keys:
            return
        self.state_cache.invalidate()
        for key, event in keys.items():
            use_partition_of(stream, event)
            self.state.data.pop(key, None)  # the store only, not the changelog
        changelog = self.state.changelog_topic.get_topic_name()
        sends = [
            OutRecord(changelog, key, None, None, event.message.partition)
            for key, event in keys.items()
        ]
        await self.publisher.send_acked(sends)

    async def drop_erased_states(self, subjects: set[str]) -> None:
        """Delete from the state store, and from its changelog (a tombstone record, removed by
        compaction), every visitor state whose key is one of ``subjects`` (hashed state keys).
        Runs when tombstones appear, not per event: it reads every key of the store."""
        store = self.state.data
        changelog = self.state.changelog_topic.get_topic_name()
        dbs = internals.partition_dbs(store) if getattr(store, "use_rocksdict", False) else None
        if dbs is not None:
            stored = [(p, key) for p, db in list(dbs.items()) for key in db.keys()]  # noqa: SIM118
        else:  # the memory store (tests)
            stored = [(None, key) for key in list(getattr(store, "data", {}))]
        doomed = [(p, key) for p, key in stored if hashlib.sha256(key).hexdigest() in subjects]
        if not doomed:
            return
        self.state_cache.invalidate()
        for partition, key in doomed:
            if dbs is not None and partition is not None:
                dbs[partition].delete(key)
            else:
                store.data.pop(key, None)
        sends = [OutRecord(changelog, key, None, None, p) for p, key in doomed]
        await self.publisher.send_acked(sends)
        log.info("privacy.worker_states_dropped", states=len(doomed))
