"""The embedded runtime: no Kafka, one command. The edge appends enriched records to the spool
and makes them durable; the processor (in the storage process, see ``owner``) runs sessionize +
stitch over them and bulk-inserts into ClickHouse (chDB), then checkpoints state and spool
offset together. After a crash it resumes at the checkpoint; replayed rows are identical and
collapse in the ReplacingMergeTree tables."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import msgspec
import structlog
from rocksdict import WriteBatch

from pipeline import metrics
from pipeline.deadletter.letters import SPOOL_TOPIC, dead_letter, reason_of, spool_dead_letter
from pipeline.edge.publisher import PublishUnavailableError
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.backlog import Backlog
from pipeline.runtime.owner import StorageOwner
from pipeline.runtime.spool import Spool, SpoolFullError, SpoolReader
from pipeline.runtime.state_store import StateStore
from pipeline.settings import Settings
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.chain import process_event
from pipeline.stages.enrich import Enricher
from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import VisitorIdentity
from schemas.keys import state_key
from schemas.records import (
    DeadLetter,
    EnrichedEvent,
    IdentityLink,
    RawEvent,
    UserUpdate,
)
from schemas.sessions import Session

log = structlog.get_logger(__name__)
CLEAN_CACHE_SIZE = 100_000


_spool_encoder = msgspec.msgpack.Encoder()
_spool_decoder = msgspec.msgpack.Decoder(EnrichedEvent)
_dead_decoder = msgspec.msgpack.Decoder(DeadLetter)
DEAD_TAG = b"\x00"  # a MessagePack map never starts with 0x00
ERASED_TAG = b"\x01"  # a record blanked by an erasure (same length: offsets stay valid)


def encode_event(event: EnrichedEvent) -> bytes:
    """Spool record of an enriched event (MessagePack: half the decode cost of JSON)."""
    return _spool_encoder.encode(event)


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """Spool record of an event the edge could not enrich: it is accepted, and stored as a
    dead letter rather than lost."""
    return DEAD_TAG + _spool_encoder.encode(letter)


def decode_event(payload: bytes) -> EnrichedEvent:
    return _spool_decoder.decode(payload)


def decode_spool_record(payload: bytes) -> EnrichedEvent | DeadLetter | None:
    """An event, or a dead letter (one the edge wrote, or this record if it cannot be read);
    None for a record an erasure blanked."""
    try:
        tag = payload[:1]
        if tag == DEAD_TAG:
            return _dead_decoder.decode(payload[1:])
        if tag == ERASED_TAG:
            return None
        return _spool_decoder.decode(payload)
    except (msgspec.DecodeError, ValueError) as exc:
        return dead_letter(
            payload,
            reason_of(exc),
            "decode",
            topic=SPOOL_TOPIC,
            identity=hashlib.sha256(payload).hexdigest(),
        )


def enrich_or_dead_letter(enricher: Enricher, raw: RawEvent) -> bytes:
    """The spool record of ``raw``: enriched, or (if enrichment fails) a dead letter holding
    the raw event without its IP, to be replayed once the cause is fixed."""
    try:
        return encode_event(enricher.enrich(raw))
    except Exception as exc:
        log.exception("edge.enrich_failed", event_id=raw.event_id)
        return encode_dead_letter(spool_dead_letter(raw, exc, "enrich"))


def blank_erased(
    tombstones: Tombstones, needles: tuple[bytes, ...]
) -> Callable[[bytes], bytes | None]:
    """For ``Spool.redact``: a blank record (same length) in place of an event whose subject
    was erased, or of a dead letter that mentions one of ``needles`` (the quoted ids)."""

    def replace(payload: bytes) -> bytes | None:
        record = decode_spool_record(payload)
        if isinstance(record, EnrichedEvent):
            erased = tombstones.drops(
                record.project_id, record.visitor_id, record.user_id, record.received_at
            )
        else:
            erased = record is not None and any(needle in payload for needle in needles)
        return ERASED_TAG + bytes(len(payload) - 1) if erased else None

    return replace


class _StateCache:
    """Changed-since-checkpoint state (``dirty``) in front of a bounded cache of clean state."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.dirty_sessions: dict[bytes, VisitorSessions] = {}
        self.dirty_identities: dict[bytes, VisitorIdentity] = {}
        self._clean_sessions: OrderedDict[bytes, VisitorSessions] = OrderedDict()
        self._clean_identities: OrderedDict[bytes, VisitorIdentity] = OrderedDict()

    def sessions(self, key: bytes) -> VisitorSessions | None:
        state = self.dirty_sessions.get(key) or self._clean_sessions.pop(key, None)
        return state if state is not None else self.store.sessions(key)

    def identity(self, key: bytes) -> VisitorIdentity | None:
        state = self.dirty_identities.get(key) or self._clean_identities.pop(key, None)
        return state if state is not None else self.store.identity(key)

    def keep_identity(self, key: bytes, state: VisitorIdentity) -> None:
        """An identity read and left unchanged: cached as it is stored (or, when new, as the
        empty identity that a missing key reads as)."""
        if key not in self.dirty_identities:
            self._clean_identities[key] = state

    def snapshot(self, checkpoint: int) -> WriteBatch:
        """Encode the changed state as of ``checkpoint``; it becomes clean (cached) state.

        Call it only once every earlier snapshot was written: the cache drops its oldest
        entries first, and this snapshot's entries must stay cached until it is written."""
        for clean in (self._clean_sessions, self._clean_identities):
            while len(clean) > CLEAN_CACHE_SIZE:
                clean.popitem(last=False)
        batch = self.store.snapshot(self.dirty_sessions, self.dirty_identities, checkpoint)
        for clean, dirty in (
            (self._clean_sessions, self.dirty_sessions),
            (self._clean_identities, self.dirty_identities),
        ):
            clean.update(dirty)
            dirty.clear()
        return batch

    def discard(self) -> None:
        """Forget uncommitted changes (the batch will be replayed from the checkpoint)."""
        self.dirty_sessions.clear()
        self.dirty_identities.clear()
        self._clean_sessions.clear()
        self._clean_identities.clear()


class _Batch:
    def __init__(self) -> None:
        self.events: list[EnrichedEvent] = []
        self.sessions: list[Session] = []
        self.links: list[IdentityLink] = []
        self.users: list[UserUpdate] = []
        self.dead: list[DeadLetter] = []
        self.started = time.monotonic()


class Processor:
    """Reads the spool from the checkpoint, runs stages 3-4, sinks in batches, checkpoints.

    It runs in the storage process and reads the spool up to the offset the edge declared
    durable. A batch's rows are built here and inserted by a sink thread while the next batch is
    processed (chDB releases the GIL while it inserts), one insert in flight at a time, in
    order. Every ``state_checkpoint_seconds`` a batch carries the state as of its end, encoded
    when it is handed over and written with the offset once its rows are in; a crash, or a
    failed insert, replays from the last checkpoint written, and the replayed rows collapse.
    """

    def __init__(
        self,
        spool: SpoolReader,
        store: StateStore,
        clickhouse: ClickHouse,
        settings: Settings,
        on_inserted: Callable[[int], None] = lambda _offset: None,
        tombstones: Tombstones | None = None,
    ) -> None:
        self.on_inserted = on_inserted
        self.tombstones = tombstones if tombstones is not None else Tombstones()
        self.spool = spool
        self.clickhouse = clickhouse
        self.settings = settings
        self.timeout_ms = settings.session_timeout_seconds * 1000
        self.state = _StateCache(store)
        self.offset = store.checkpoint()
        self.inserted_offset = self.offset
        self._checkpointed_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trackhouse-processor", daemon=True)
        self._sink = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trackhouse-sink")
        self._in_flight: Future[bool] | None = None
        self._released_offset = self.offset

    def start(self) -> None:
        log.info("processor.start", checkpoint=self.offset, spool_end=self.spool.end_offset)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Drain what the spool holds, flush, checkpoint."""
        self._stop.set()
        self._thread.join(timeout)
        self._sink.shutdown(wait=True)

    @property
    def lag_bytes(self) -> int:
        return self.spool.end_offset - self.inserted_offset

    def _next_records(self, offset: int) -> tuple[list[EnrichedEvent | DeadLetter | None], int]:
        payloads, end = self.spool.read(offset)
        return [decode_spool_record(payload) for payload in payloads], end

    def _run(self) -> None:
        batch, read_offset, handed_offset = _Batch(), self.offset, self.offset
        flush_every = self.settings.sink_flush_seconds
        while True:
            stopping = self._stop.is_set()
            if read_offset >= self.spool.end_offset and not stopping:
                self.spool.wait_for_data(read_offset, flush_every / 2)
            records, read_offset = self._next_records(read_offset)
            for record in records:
                if isinstance(record, EnrichedEvent):
                    self._process_guarded(record, batch)
                elif record is not None:  # None: blanked by an erasure
                    batch.dead.append(record)
            caught_up = read_offset >= self.spool.end_offset
            due = time.monotonic() - batch.started >= flush_every
            full = len(batch.events) >= self.settings.sink_batch_size
            if read_offset > handed_offset and (full or due or (caught_up and stopping)):
                if self._hand_off(batch, read_offset):
                    handed_offset = read_offset
                    batch = _Batch()
                else:
                    batch, read_offset = _Batch(), self._replay_from_checkpoint()
                    handed_offset = read_offset
            elif not batch.events and due:
                batch.started = time.monotonic()
            if stopping and caught_up and read_offset == handed_offset:
                if self._wait_for_insert():
                    self._write_checkpoint(read_offset)
                    log.info("processor.stopped", checkpoint=self.offset)
                    return
                batch, read_offset = _Batch(), self._replay_from_checkpoint()
                handed_offset = read_offset

    def _hand_off(self, batch: _Batch, offset: int) -> bool:
        """Build the batch's rows and queue their insert; False if the previous insert failed
        (nothing is queued then). Every ``state_checkpoint_seconds`` the state as of
        ``offset`` goes with it, encoded now and written once the rows are in."""
        if not self._wait_for_insert():
            return False
        blocks = rows.batch_blocks(
            batch.events, batch.sessions, batch.links, batch.users, batch.dead
        )  # built here: the sessions go on changing once the next batch is processed
        checkpoint = None
        if time.monotonic() - self._checkpointed_at >= self.settings.state_checkpoint_seconds:
            checkpoint = self.state.snapshot(offset)
            self._checkpointed_at = time.monotonic()
        self._in_flight = self._sink.submit(self._insert, blocks, batch, offset, checkpoint)
        return True

    def _wait_for_insert(self) -> bool:
        """Wait for the insert in flight, if any; True if it succeeded. Spool segments below a
        checkpoint it wrote are released."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None and not in_flight.result():
            return False
        self._release_checkpointed()
        return True

    def _release_checkpointed(self) -> None:
        """Delete spool segments below the checkpoint (once per checkpoint: it lists the
        directory)."""
        if self._released_offset < self.offset:
            self.spool.release(self.offset)
            self._released_offset = self.offset

    def _write_checkpoint(self, offset: int) -> None:
        """Persist state and offset at once (on stop: nothing is in flight, and every event
        below ``offset`` was processed and inserted)."""
        if self.offset != offset:
            self.state.store.write(self.state.snapshot(offset))
            self.offset = offset
            self._release_checkpointed()

    def _replay_from_checkpoint(self) -> int:
        """After a failed insert: drop uncommitted state and go back to the checkpoint (rows
        inserted since then come again, identical, and collapse)."""
        self.state.discard()
        self.inserted_offset = self.offset
        time.sleep(1.0)
        return self.offset

    def _process_guarded(self, event: EnrichedEvent, batch: _Batch) -> None:
        """Stages 3-4 for one event; an event they cannot process becomes a dead letter (its
        visitor's state is left as it was) and the processor goes on."""
        try:
            self._process(event, batch)
        except Exception as exc:
            log.exception("processor.stage_failed", event_id=event.event_id)
            batch.dead.append(spool_dead_letter(event, exc, "sessionize"))

    def _process(self, event: EnrichedEvent, batch: _Batch) -> None:
        if self.tombstones.erased and self.tombstones.drops(
            event.project_id, event.visitor_id, event.user_id, event.received_at
        ):
            metrics.EVENTS_ERASED.inc()
            return  # its user was erased after it arrived (a replay from the checkpoint)
        key = state_key(event.project_id, event.visitor_key)
        outcome = process_event(
            event, self.state.sessions(key), self.state.identity(key), self.timeout_ms
        )
        self.state.dirty_sessions[key] = outcome.sessions_state
        if outcome.identity_changed:
            self.state.dirty_identities[key] = outcome.identity_state
        else:  # most events: not encoded again at the next checkpoint
            self.state.keep_identity(key, outcome.identity_state)
        if outcome.event is None:
            metrics.EVENTS_DUPLICATE.inc()
            return
        batch.events.append(outcome.event)
        if outcome.session is not None:
            batch.sessions.append(outcome.session)
        if outcome.stitched is not None:
            batch.links.extend(outcome.stitched.links)
            batch.users.extend(outcome.stitched.user_updates)

    def _insert(
        self,
        blocks: list[rows.InsertBlock],
        batch: _Batch,
        offset: int,
        checkpoint: WriteBatch | None,
    ) -> bool:
        """The sink thread: insert one batch's blocks in order, then write the checkpoint that
        came with them; True when all went in."""
        started = time.perf_counter()
        try:
            for block in blocks:
                self.clickhouse.insert(block)
            if checkpoint is not None:
                self.state.store.write(checkpoint)
        except Exception:
            metrics.SINK_FAILURES.inc()
            log.exception("sink.flush_failed", events=len(batch.events))
            return False
        if checkpoint is not None:
            self.offset = offset
        self.inserted_offset = offset
        self.on_inserted(offset)
        elapsed = time.perf_counter() - started
        metrics.EVENTS_STORED.inc(len(batch.events))
        for letter in batch.dead:
            metrics.DEAD_LETTERS.labels(letter.stage).inc()
        metrics.SINK_BATCH_ROWS.observe(len(batch.events))
        metrics.SINK_BATCH_SECONDS.observe(elapsed)
        metrics.SPOOL_LAG_BYTES.set(self.lag_bytes)
        log.debug(
            "sink.flushed",
            events=len(batch.events),
            sessions=len(batch.sessions),
            seconds=round(elapsed, 4),
        )
        return True


class EmbeddedRuntime:
    """The edge's side of the embedded runtime: enrich, append to the spool, make it durable,
    then tell the storage process (which owns chDB and runs the ``Processor``) how far to read."""

    def __init__(self, settings: Settings, enricher: Enricher) -> None:
        self.settings = settings
        self.enricher = enricher
        self.spool = Spool(settings.spool_dir, settings.spool_segment_bytes, settings.spool_fsync)
        self.owner = StorageOwner(settings)
        self.clickhouse = self.owner.clickhouse
        self._sync_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spool-sync")
        self.backlog = Backlog()

    def start(self) -> None:
        self.owner.start(self.spool.end_offset)

    async def publish(self, raws: list[RawEvent]) -> None:
        """Enrich (resolving geo, dropping the IP) and persist durably; returns once the events
        survive a crash. Refused (503) while the storage process does not answer (stalled for
        ``storage_stall_seconds``) or is behind — more than ``max_backlog_seconds`` since the
        oldest event it has not stored was accepted, or more than ``max_backlog_bytes`` of
        spool — so POST → row latency stays bounded under overload."""
        refused = self._refusal()
        if refused:
            metrics.EVENTS_SHED.inc(len(raws))
            raise PublishUnavailableError(refused)
        accepted_at = self.backlog.now()
        records = [enrich_or_dead_letter(self.enricher, raw) for raw in raws]
        try:
            _start, end = self.spool.append(records)
            await asyncio.get_running_loop().run_in_executor(self._sync_pool, self.spool.sync, end)
        except SpoolFullError as exc:
            raise PublishUnavailableError(str(exc)) from exc
        self.backlog.appended(end, accepted_at)
        self.owner.advance(end)

    async def readiness(self) -> str:
        """'' when ready; else why not (the storage process, the backlog, or a spool that
        refuses appends — publish keeps trying the spool, so it notices recovery)."""
        return self._refusal() or self.spool.refusing()

    def _refusal(self) -> str:
        """Why the edge should shed load now ('' when it should not)."""
        unavailable = self.owner.unavailable()
        if unavailable:
            return unavailable
        inserted = self.owner.inserted_offset
        seconds = self.backlog.seconds_behind(inserted)
        if seconds > self.settings.max_backlog_seconds:
            return f"the pipeline is {seconds:.1f} s behind; retry later"
        backlog = self.spool.end_offset - inserted
        if backlog > self.settings.max_backlog_bytes:
            return f"the pipeline is {backlog} bytes behind; retry later"
        return ""

    def stop(self) -> None:
        self.owner.stop()
        self._sync_pool.shutdown()
        self.spool.close()
