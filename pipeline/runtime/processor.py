"""The embedded runtime's storage side: the ``Processor`` reads the spool from the checkpoint,
runs sessionize + stitch, bulk-inserts into ClickHouse (chDB) and checkpoints state and spool
offset together. It runs in the storage process (``owner``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import structlog
from rocksdict import WriteBatch

from pipeline import metrics
from pipeline.deadletter.letters import spool_dead_letter
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.spool import SpoolReader
from pipeline.runtime.spool_records import decode_spool_record
from pipeline.runtime.state_store import StateStore
from pipeline.settings import Settings
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.chain import process_event
from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import VisitorIdentity
from schemas.keys import state_key
from schemas.records import DeadLetter, EnrichedEvent, IdentityLink, UserUpdate
from schemas.sessions import Session

log = structlog.get_logger(__name__)
CLEAN_CACHE_SIZE = 100_000


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
