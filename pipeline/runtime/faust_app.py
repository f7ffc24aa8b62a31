"""Kafka mode: the Faust worker. Two thin agents around the stage code the embedded runtime runs.

Faust's cost is per message (about 100 µs here, see the README), so records carry several
events (``pipeline.kafka.envelope``): the edge sends a request's events as one array per
partition, and the worker publishes each batch's enriched events per partition as one
``record.enriched-batch.v1`` (with the newest state of their sessions).

``process`` (on ``events.raw``, ``take_events`` batches): decode (msgspec, from the raw bytes;
a record is one event or an array of them), enrich, sessionize + stitch with per-visitor state in
a Faust table keyed by ``project\\0visitor`` (changelog topic, RocksDB store by default; the
record's partition picks the table partition, and the edge put each event on its key's
partition). It publishes the enriched batches to ``events.enriched``, ``notify`` events to
``notifications``, identity links and user updates to ``identities`` (told apart by the
``trackhouse-record`` header). An event that fails a stage goes to ``events.dead``
(``record.dead-letter.v1``, the event alone) and the agent goes on.

Order within a batch: publish everything and wait for the broker's acks, *then* write the state
table, then the batch is acknowledged (``take_events`` acks when the loop body returns). After
a crash the batch is replayed: events whose state was written are recognised as re-deliveries
(sessionize keeps recent event ids) and were already published; the others are computed again
from the same state, so they are published again identically and collapse downstream.

``sink`` (on ``events.enriched`` + ``identities`` + ``events.dead``, ``take_events`` of
``worker_take_records`` records within ``sink_flush_seconds``): builds the column blocks of
``pipeline.sink.rows`` and inserts them; the loop body returns (and the offsets are acked) only
once the insert succeeded, a failed insert is retried forever, never skipped. Re-deliveries
collapse in the ReplacingMergeTree tables (events by ``event_id``, sessions by ``version``).
It also reads single ``record.enriched-event.v1`` records (session in the ``trackhouse-session``
header), as written before batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import faust
import msgspec
import structlog
from faust.types import EventT
from rocksdict import WriteBatch

from pipeline import metrics
from pipeline.deadletter import letters
from pipeline.kafka import backoff, envelope, internals
from pipeline.kafka.batches import InFlight, OutRecord, acked_offsets, send_batched, start_batches
from pipeline.kafka.compression import use_fast_lz4
from pipeline.kafka.envelope import ENRICHED_BATCH
from pipeline.kafka.topics import STATE_TABLE
from pipeline.log_config import route_stdlib
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.faust_consumer import use_at_least_once_consumer
from pipeline.runtime.state_cache import StateCache
from pipeline.settings import Settings
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.chain import Outcome, process_event
from pipeline.stages.enrich import Enricher
from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import StitchResult, VisitorIdentity
from schemas.batches import EnrichedBatch
from schemas.keys import state_key
from schemas.records import (
    DeadLetter,
    EnrichedEvent,
    IdentityLink,
    RawEvent,
    UserUpdate,
    decode_record,
    encode_record,
)
from schemas.sessions import Session

log = structlog.get_logger(__name__)
RECORD_HEADER = "trackhouse-record"
SESSION_HEADER = "trackhouse-session"
LINK, USER = b"identity-link", b"user-update"
RETRY_MAX_SECONDS = 10.0
LAG_INTERVAL_SECONDS = 5.0


class VisitorState(msgspec.Struct):
    """The state table's value: both stages' state of one (project, visitor)."""

    sessions: VisitorSessions
    identity: VisitorIdentity


def dead_letter(
    value: bytes | None,
    reason: str,
    stage: str,
    message: Any,
    raw: RawEvent | None = None,
    index: int | None = None,
) -> DeadLetter:
    """The dead letter of a record of ``events.raw`` (without its IP): replayed to the same
    topic by ``trackhouse dead replay``; ``dead_id`` is that of the record's offset (and of
    the event's ``index`` when the record is an array)."""
    where = f"{message.topic}/{message.partition}/{message.offset}"
    return letters.dead_letter(
        value,
        reason,
        stage,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        record_type="raw-event" if raw is not None else "",
        project_id=raw.project_id if raw is not None else letters.project_of_key(message.key),
        identity=where if index is None else f"{where}/{index}",
    )


def _stored_dead_letter(letter: DeadLetter) -> DeadLetter:
    """A dead letter as the table keeps it (older records lack ``dead_id``/``failed_at``)."""
    if not letter.dead_id:
        where = f"{letter.topic}/{letter.partition}/{letter.offset}"
        letter.dead_id = letters.dead_id(letter.stage, where)
    if not letter.failed_at:
        letter.failed_at = int(time.time() * 1000)
    return letter


def _reason(exc: BaseException) -> str:
    return letters.reason_of(exc)


def _identity_sends(topic: str, key: bytes, stitched: StitchResult) -> Iterator[OutRecord]:
    """The identity links and user updates an ``identify`` made, as records of ``topic``."""
    for link in stitched.links:
        yield OutRecord(topic, key, encode_record(link), [(RECORD_HEADER, LINK)])
    for user in stitched.user_updates:
        yield OutRecord(topic, key, encode_record(user), [(RECORD_HEADER, USER)])


class _Outputs:
    """What a run of processed events publishes: enriched events and their sessions packed per
    source partition (``envelope.pack_enriched``), other records one by one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events = 0
        self._enriched: dict[int, list[bytes]] = defaultdict(list)
        self._sessions: dict[int, list[Session]] = defaultdict(list)
        self._others: list[OutRecord] = []

    def add(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._others.append(OutRecord(topic, key, value))

    def add_outcome(self, partition: int, key: bytes, outcome: Outcome) -> None:
        assert outcome.event is not None
        s = self.settings
        body = encode_record(outcome.event)
        self.events += 1
        self._enriched[partition].append(body)
        if outcome.session is not None:
            self._sessions[partition].append(outcome.session)
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


# Records handed to the producer, and their batches in flight (None: handing them over failed)
_Publishing = tuple[list[OutRecord], list[InFlight] | None]


class SinkBatch:
    """What one sink ``take_events`` batch decodes into."""

    def __init__(self) -> None:
        self.events: list[EnrichedEvent] = []
        self.sessions: list[Session] = []
        self.links: list[IdentityLink] = []
        self.users: list[UserUpdate] = []
        self.dead: list[DeadLetter] = []
        self.undecodable = 0

    def blocks(self) -> list[rows.InsertBlock]:
        return rows.batch_blocks(self.events, self.sessions, self.links, self.users, self.dead)

    def marks(self) -> tuple[int, int, int, int]:
        return len(self.events), len(self.sessions), len(self.links), len(self.users)

    def drop_erased(
        self, tombstones: Tombstones, marks: tuple[int, int, int, int], written_at: int
    ) -> None:
        """Drop the rows added since ``marks`` (one Kafka record's) whose visitor or user was
        erased after the record was written (``written_at``, its timestamp)."""
        drops = tombstones.drops
        events, sessions, links, users = marks
        kept = [
            e for e in self.events[events:]
            if not drops(e.project_id, e.visitor_id, e.user_id, written_at)
        ]  # fmt: skip
        erased = len(self.events) - events - len(kept)
        self.events[events:] = kept
        self.sessions[sessions:] = [
            x for x in self.sessions[sessions:]
            if not drops(x.project_id, x.visitor_id, x.user_id, written_at)
        ]  # fmt: skip
        self.links[links:] = [
            x for x in self.links[links:]
            if not drops(x.project_id, x.visitor_id, x.user_id, written_at)
        ]  # fmt: skip
        self.users[users:] = [
            x for x in self.users[users:] if not drops(x.project_id, "", x.user_id, written_at)
        ]
        if erased:
            metrics.EVENTS_ERASED.inc(erased)


def _use_partition_of(stream: faust.StreamT, event: EventT) -> None:
    """Make ``event`` the current event *of this task*, which the state table reads to pick the
    store and changelog partition of a key (a batch mixes partitions). Only the task's context
    variable: ``take_events`` reads ``stream.current_event`` to pair buffered values with their
    events, so that attribute must stay as the stream left it."""
    saved = stream.current_event
    internals.set_current_event(stream, event)
    stream.current_event = saved


def _put_in_store(
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
            _use_partition_of(stream, last_event[record.key])  # the store picks the partition
            store[record.key] = record.value
        return
    batches: dict[int, WriteBatch] = defaultdict(lambda: WriteBatch(raw_mode=True))
    for record in sends:
        batches[record.partition].put(record.key, record.value)
    for partition, batch in batches.items():
        open_partition_db(partition).write(batch)


@contextlib.contextmanager
def _acked_only_when_done(events: Sequence[EventT]) -> Iterator[None]:
    """``take_events`` acks a batch when the loop body is left, even by an exception or a
    cancellation (shutdown). When the body did not finish, mark the messages as acked without
    acking them, so their offsets are never committed and the batch is consumed again."""
    try:
        yield
    except BaseException:
        for event in events:
            event.message.acked = True
        raise


def _kafka_brokers(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def faust_app_id(settings: Settings) -> str:
    """The consumer group: sink-only workers have their own (``<app id>-sink``), since Faust
    expects every member of a group to run the same agents."""
    if settings.worker_role == "sink":
        return f"{settings.faust_app_id}-sink"
    return settings.faust_app_id


class TrackhouseWorker:
    """The Faust app and the agents of ``settings.worker_role``, built from ``Settings``.

    The sink agent needs ``clickhouse``; ``clickhouse=None`` builds a worker without it."""

    def __init__(
        self,
        settings: Settings,
        enricher: Enricher,
        clickhouse: ClickHouse | None,
    ) -> None:
        self.settings = settings
        self.enricher = enricher
        self.clickhouse = clickhouse
        self.timeout_ms = settings.session_timeout_seconds * 1000
        self.inserted = 0
        self.tombstones = Tombstones()  # erased users: re-deliveries are dropped
        role = settings.worker_role
        use_fast_lz4()
        backoff.install()
        app = faust.App(
            faust_app_id(settings),
            broker=_kafka_brokers(settings.kafka_bootstrap),
            store=settings.faust_store,
            datadir=str(settings.data_dir / "faust"),
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_compression_type="lz4",
            producer_linger_ms=5,
            producer_max_batch_size=1 << 20,  # a batch's records go as one record batch
            # A produce request unanswered this long fails and is sent again (Faust waits 20 min)
            producer_request_timeout=settings.kafka_publish_retry_seconds,
            web_enabled=False,
            # A killed worker's partitions move after the session timeout (see Settings)
            broker_session_timeout=settings.faust_session_timeout_seconds,
            broker_rebalance_timeout=max(
                settings.faust_rebalance_timeout_seconds, settings.faust_session_timeout_seconds
            ),
            broker_heartbeat_interval=min(3.0, settings.faust_session_timeout_seconds / 3),
            consumer_group_instance_id=settings.worker_instance_id or None,
            table_standby_replicas=0,
        )
        use_at_least_once_consumer(app)
        self.app = app

        def topic(*names: str) -> faust.TopicT:
            return app.topic(*names, key_serializer="raw", value_serializer="raw")

        if role != "sink":
            self.raw_topic = topic(settings.topic_raw)
            self.state = app.Table(
                STATE_TABLE,
                key_type=bytes,  # -> "raw" serializers for the store and the changelog
                value_type=bytes,
                partitions=settings.topic_partitions,
            )
            app.agent(self.raw_topic, name="trackhouse.process")(self._process_agent)
            self.state_cache: StateCache[VisitorState] = StateCache(
                settings.worker_state_cache_visitors
            )
            app.on_partitions_revoked.connect(self._forget_cached_states)
            app.on_partitions_assigned.connect(self._forget_cached_states)
        app.timer(LAG_INTERVAL_SECONDS, name="trackhouse.lag")(self._report_lag)
        sinks = role != "process" and clickhouse is not None
        if sinks:
            app.timer(settings.retention_check_seconds, on_leader=True, name="trackhouse.purge")(
                self._purge_anonymous
            )
        if sinks:
            sink_topic = topic(
                settings.topic_enriched, settings.topic_identities, settings.topic_dead
            )
            app.agent(sink_topic, name="trackhouse.sink")(self._sink_agent)

    # --- housekeeping ------------------------------------------------------------------------

    async def _report_lag(self) -> None:
        """``trackhouse_consumer_lag``: per assigned partition, messages past the committed
        offset (what a crash would re-deliver, or what is not processed yet)."""
        consumer = self.app.consumer
        committed = internals.committed_offsets(consumer)
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet (just assigned)
                continue
            if highwater is None:
                continue
            done = committed.get(tp) or 0
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - done, 0))

    async def _purge_anonymous(self) -> None:
        """The projects' retention policies, applied by the group's leader only."""
        from pipeline.privacy.retention import Policy, apply_policies

        assert self.clickhouse is not None
        default = Policy(self.settings.anonymous_retention_days, self.settings.retention_days)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, apply_policies, self.clickhouse, default
            )
        except Exception:
            log.exception("privacy.purge_failed")

    # --- process -----------------------------------------------------------------------------

    async def _forget_cached_states(self, *_: Any, **__: Any) -> None:
        self.state_cache.invalidate()

    async def _process_agent(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(
            self.settings.worker_take_records, within=self.settings.process_flush_seconds
        ):
            with _acked_only_when_done(events):
                try:
                    await self.process_batch(stream, events)
                except BaseException:  # cached states may hold this batch's changes
                    self.state_cache.invalidate()
                    raise

    async def process_batch(self, stream: faust.StreamT, events: Sequence[EventT]) -> None:
        s, store, cache = self.settings, self.state.data, self.state_cache
        await self._reload_tombstones()
        tombstones, erased = self.tombstones, {}
        generation = cache.generation
        states: dict[bytes, VisitorState] = {}
        last_event: dict[bytes, EventT] = {}
        outputs = _Outputs(s)
        publishing: list[_Publishing] = []
        dead = 0
        for event in events:
            if outputs.events >= s.process_batch_size:  # hand them to the producer as we go
                publishing.append(await self._start_publishing(outputs.sends()))
                outputs = _Outputs(s)
            message = event.message
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
                    state = states.get(key) or cache.get(key)
                    if state is None:
                        _use_partition_of(stream, event)
                        stored = store.get(key)  # the table's get would read RocksDB twice
                        state = decode_record(stored, VisitorState) if stored else None
                    outcome = process_event(
                        enriched_event,
                        state.sessions if state else None,
                        state.identity if state else None,
                        self.timeout_ms,
                    )
                except Exception as exc:
                    dead += 1
                    arrayed = index if len(elements) > 1 else None
                    letter = dead_letter(value, _reason(exc), stage, message, raw, arrayed)
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
                    continue
                states[key] = VisitorState(outcome.sessions_state, outcome.identity_state)
                last_event[key] = event
                if outcome.event is None:
                    metrics.EVENTS_DUPLICATE.inc()
                    continue
                outputs.add_outcome(message.partition, key, outcome)
        publishing.append(await self._start_publishing(outputs.sends()))
        published = await self._published(publishing)
        await self._write_states(stream, states, last_event)  # only once the outputs are acked
        cache.put_all(states, generation)
        if erased:
            await self._forget_states(stream, erased, states)
        log.debug("worker.processed", records=len(events), dead=dead, published=published)

    async def _write_states(
        self,
        stream: faust.StreamT,
        states: dict[bytes, VisitorState],
        last_event: dict[bytes, EventT],
    ) -> None:
        """Write the batch's visitor states as ``Table.__setitem__`` does (the store, then the
        changelog record on the event's partition, then the store's persisted offset), but
        send the changelog records in one burst and wait for their acks: Faust's per-key path
        (``send_soon`` + a callback per key) cost ~100 µs a key here, most of the worker."""
        table, store = self.state, self.state.data
        changelog = table.changelog_topic.get_topic_name()
        sends = [
            OutRecord(changelog, key, encode_record(state), None, last_event[key].message.partition)
            for key, state in states.items()
        ]
        _put_in_store(stream, store, sends, last_event)
        for tp, offset in (await self._send_acked(sends)).items():
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
            _use_partition_of(stream, event)
            self.state.data.pop(key, None)  # the store only, not the changelog
        changelog = self.state.changelog_topic.get_topic_name()
        sends = [
            OutRecord(changelog, key, None, None, event.message.partition)
            for key, event in keys.items()
        ]
        await self._send_acked(sends)

    async def _start_publishing(self, sends: list[OutRecord]) -> _Publishing:
        """Hand ``sends`` to the producer; the worker goes on computing the next events
        while they travel (``_published`` waits for them)."""
        try:
            return sends, await start_batches(internals.ensure_producer(self.app.producer), sends)
        except Exception as exc:  # sent again by ``_published``
            log.error("worker.publish_failed", error=_reason(exc), records=len(sends))
            return sends, None

    async def _published(self, publishing: list[_Publishing]) -> int:
        """Wait until the broker acknowledged every record handed over (resending what
        failed, forever); returns how many records."""
        for sends, in_flight in publishing:
            try:
                if in_flight is not None:
                    await acked_offsets(in_flight)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # resend all: duplicates are identical and collapse
                log.error("worker.publish_failed", error=_reason(exc), records=len(sends))
            await self._send_acked(sends)
        return sum(len(sends) for sends, _ in publishing)

    async def _send_acked(self, sends: list[OutRecord]) -> dict[Any, int]:
        """Send ``sends`` as one batch per partition; once the broker acknowledged all of
        them, the last offset written to each partition."""
        delay = 0.2
        while True:
            try:
                return await send_batched(internals.ensure_producer(self.app.producer), sends)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # resend all: duplicates are identical and collapse
                log.error("worker.publish_failed", error=_reason(exc), records=len(sends))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    # --- sink --------------------------------------------------------------------------------

    async def _reload_tombstones(self) -> None:
        """Re-read the erasure tombstones every ``erasure_reload_seconds`` (ClickHouse only);
        a process worker then deletes the state of newly erased visitors it holds."""
        every = self.settings.erasure_reload_seconds
        if self.clickhouse is None or time.monotonic() - self.tombstones.loaded_at < every:
            return
        known = set(self.tombstones.erased)
        await asyncio.get_running_loop().run_in_executor(
            None, self.tombstones.reload_every, self.clickhouse, every
        )
        new = self.tombstones.erased.keys() - known
        if new and self.settings.worker_role != "sink":
            await self._drop_erased_states(new)

    async def _drop_erased_states(self, subjects: set[str]) -> None:
        """Delete from the state store, and from its changelog (a tombstone record, removed by
        compaction), every visitor state whose key is one of ``subjects`` (hashed state keys).
        Runs when tombstones appear, not per event: it reads every key of the store."""
        store = self.state.data
        changelog = self.state.changelog_topic.get_topic_name()
        dbs = getattr(store, "_dbs", None) if getattr(store, "use_rocksdict", False) else None
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
        await self._send_acked([OutRecord(changelog, key, None, None, p) for p, key in doomed])
        log.info("privacy.worker_states_dropped", states=len(doomed))

    async def _sink_agent(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(
            self.settings.sink_take_records, within=self.settings.sink_flush_seconds
        ):
            with _acked_only_when_done(events):
                await self._reload_tombstones()
                await self.sink_batch(self.decode_sink_batch(events))

    def decode_sink_batch(self, events: Sequence[EventT]) -> SinkBatch:
        s, batch = self.settings, SinkBatch()
        for event in events:
            message, value = event.message, event.value
            marks = batch.marks() if self.tombstones.erased else None
            try:
                headers = dict(message.headers or ())
                if headers.get(RECORD_HEADER) == ENRICHED_BATCH:
                    many = decode_record(value, EnrichedBatch)
                    batch.events.extend(many.events)
                    batch.sessions.extend(many.sessions)
                elif message.topic == s.topic_enriched:
                    batch.events.append(decode_record(value, EnrichedEvent))
                    session = headers.get(SESSION_HEADER)
                    if session:
                        batch.sessions.append(decode_record(session, Session))
                elif message.topic == s.topic_dead:
                    batch.dead.append(_stored_dead_letter(decode_record(value, DeadLetter)))
                elif headers.get(RECORD_HEADER) == USER:
                    batch.users.append(decode_record(value, UserUpdate))
                else:
                    batch.links.append(decode_record(value, IdentityLink))
            except (msgspec.DecodeError, TypeError) as exc:
                # Only the process agent writes these topics; log and skip a foreign record.
                batch.undecodable += 1
                log.error("sink.undecodable", topic=message.topic, error=_reason(exc))
            if marks is not None:  # written before an erasure: a re-delivery
                batch.drop_erased(self.tombstones, marks, int(message.timestamp * 1000))
        return batch

    async def sink_batch(self, batch: SinkBatch) -> None:
        """Insert the batch; returns only once it is in ClickHouse (retries forever)."""
        assert self.clickhouse is not None
        blocks = [block for block in batch.blocks() if block.row_count]
        loop, delay = asyncio.get_running_loop(), 0.5
        while blocks:
            started = time.perf_counter()
            try:
                await loop.run_in_executor(None, self._insert, blocks)
            except Exception as exc:
                metrics.SINK_FAILURES.inc()
                log.error("sink.insert_failed", error=_reason(exc), events=len(batch.events))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            elapsed = time.perf_counter() - started
            self.inserted += len(batch.events)
            metrics.EVENTS_STORED.inc(len(batch.events))
            for letter in batch.dead:
                metrics.DEAD_LETTERS.labels(letter.stage).inc()
            metrics.SINK_BATCH_ROWS.observe(len(batch.events))
            metrics.SINK_BATCH_SECONDS.observe(elapsed)
            log.debug(
                "sink.flushed",
                events=len(batch.events),
                sessions=len(batch.sessions),
                seconds=round(elapsed, 4),
            )
            return

    def _insert(self, blocks: list[rows.InsertBlock]) -> None:
        assert self.clickhouse is not None
        for block in blocks:
            self.clickhouse.insert(block)


FAUST_LOG_LEVELS = {"critical": "crit", "warning": "warn", "fatal": "crit"}


def faust_loglevel(level: str) -> str:
    """Our log level names -> Faust's (crit|error|warn|info|debug)."""
    level = level.lower()
    return FAUST_LOG_LEVELS.get(level, level if level in {"error", "info", "debug"} else "info")


class Worker(faust.Worker):
    """``faust.Worker`` that keeps the root logger at the requested level: Faust sets it to
    DEBUG (for its spinner) and filters in the handlers, so every ``log.debug`` in aiokafka's
    per-message paths built a record only to drop it. Faust's, mode's and aiokafka's records
    go through our handler (``log_config.route_stdlib``): the same format as our own lines."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        logger.setLevel(level or logging.WARNING)
        route_stdlib(logger)  # mode put a plain-text stdout handler there: ours, one format


class HttpApi:
    """The HTTP API (``create_app``) served by uvicorn inside the worker's event loop.

    A mode ``Service`` so the Faust worker starts and stops it with the app; uvicorn's own
    signal handling is disabled (the Faust worker owns SIGTERM/SIGINT)."""

    @staticmethod
    def service(
        settings: Settings,
        on_start: Callable[[], Awaitable[Any]],
        on_stop: Callable[[], Awaitable[None]],
    ) -> Any:
        """``on_start`` runs in the worker's loop and returns the ASGI app to serve."""
        import mode
        import uvicorn

        from pipeline.edge.http_server import uvicorn_options

        host, port = settings.host, settings.port

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # type: ignore[override]
                yield

        class _HttpService(mode.Service):
            server: _Server | None = None
            task: asyncio.Task | None = None

            async def on_start(self) -> None:
                asgi = await on_start()
                config = uvicorn.Config(
                    asgi,
                    host=host,
                    port=port,
                    lifespan="off",
                    timeout_graceful_shutdown=10,
                    **uvicorn_options(settings),
                )
                self.server = _Server(config)
                self.task = asyncio.ensure_future(self.server.serve())
                while not self.server.started:
                    if self.task.done():
                        self.task.result()  # raises why it could not start
                        raise RuntimeError("the HTTP server stopped at start-up")
                    await asyncio.sleep(0.05)
                log.info("worker.http_listening", url=f"http://{host}:{port}")

            async def on_stop(self) -> None:
                if self.server is not None and self.task is not None:
                    self.server.should_exit = True
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self.task, 15)
                await on_stop()

        return _HttpService()
