"""The embedded runtime's storage side: the ``Processor`` reads the spool from the checkpoint,
feeds the core (``runtime.core``: sessionize + stitch, rows, the ClickHouse sink) and
checkpoints state and spool offset together once the rows are in. It runs in the storage
process (``owner``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog
from rocksdict import WriteBatch

from pipeline import metrics
from pipeline.deadletter.letters import spool_dead_letter
from pipeline.plans.book import PlanBook
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.core.batch import RowBatch
from pipeline.runtime.core.ports import BlockWriter, Notices
from pipeline.runtime.core.sink import RowSink
from pipeline.runtime.core.step import EventStep
from pipeline.runtime.spool import SpoolReader
from pipeline.runtime.spool_records import decode_spool_record
from pipeline.runtime.state_store import CachedStates, StateStore
from pipeline.settings import Settings
from schemas.keys import state_key
from schemas.records import DeadLetter, EnrichedEvent

log = structlog.get_logger(__name__)
# What a flushed batch lets the processor commit: the spool offset it reaches, and the state
# as of that offset when the batch carries a checkpoint
Position = tuple[int, WriteBatch | None]


class _SpoolBatch(RowBatch):
    """A batch of rows that also keeps the dead letters of events the stages failed (the
    core's ``DeadLetters``), as the spool's dead letters (replayed to the spool)."""

    __slots__ = ()

    def add_failed(self, event: EnrichedEvent, exc: Exception, stage: str) -> None:
        self.dead.append(spool_dead_letter(event, exc, stage))


class Processor:
    """Reads the spool from the checkpoint, runs stages 3-4, sinks in batches, checkpoints.

    It runs in the storage process and reads the spool up to the offset the edge declared
    durable. A batch's rows are built here and inserted by a sink thread while the next batch is
    processed (chDB releases the GIL while it inserts), one insert in flight at a time, in
    order. An insert is retried until it succeeds (``RowSink``, ``retries.insert``). Every
    ``state_checkpoint_seconds`` a batch carries the state as of its end, encoded when it is
    handed over and written with the offset once its rows are in (``commit``); a crash, or a
    failed state write, replays from the last checkpoint written, and the replayed rows
    collapse.
    """

    def __init__(
        self,
        spool: SpoolReader,
        store: StateStore,
        clickhouse: BlockWriter,
        settings: Settings,
        on_inserted: Callable[[int], None] = lambda _offset: None,
        tombstones: Tombstones | None = None,
        plans: PlanBook | None = None,
        notices: Notices | None = None,
    ) -> None:
        self.on_inserted = on_inserted
        self.tombstones = tombstones if tombstones is not None else Tombstones()
        self.spool = spool
        self.settings = settings
        self.plans = plans if plans is not None else PlanBook()
        self.step = EventStep(settings.session_timeout_seconds * 1000, self.plans)
        self.sink = RowSink(clickhouse, notices)
        self.state = CachedStates(store)
        self.offset = store.checkpoint()
        self.inserted_offset = self.offset
        self._checkpointed_at = time.monotonic()
        self._stop = threading.Event()
        self._abandon = threading.Event()  # stop timed out: a failing insert gives up
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
        if self._thread.is_alive():  # unchecked rows are replayed at the next start
            log.error("processor.stop_timed_out", checkpoint=self.offset)
            self._abandon.set()
        self._sink.shutdown(wait=True)

    @property
    def lag_bytes(self) -> int:
        return self.spool.end_offset - self.inserted_offset

    def _next_records(self, offset: int) -> tuple[list[EnrichedEvent | DeadLetter | None], int]:
        payloads, end = self.spool.read(offset)
        return [decode_spool_record(payload) for payload in payloads], end

    def _run(self) -> None:
        batch, read_offset, handed_offset = _SpoolBatch(), self.offset, self.offset
        flush_every = self.settings.sink_flush_seconds
        while not self._abandon.is_set():
            stopping = self._stop.is_set()
            if read_offset >= self.spool.end_offset and not stopping:
                self.spool.wait_for_data(read_offset, flush_every / 2)
            records, read_offset = self._next_records(read_offset)
            self.plans.refresh()  # a version check every plan_reload_seconds
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
                    batch = _SpoolBatch()
                else:
                    batch, read_offset = _SpoolBatch(), self._replay_from_checkpoint()
                    handed_offset = read_offset
            elif not batch.events and due:
                batch.started = time.monotonic()
            if stopping and caught_up and read_offset == handed_offset:
                if self._wait_for_insert():
                    self._write_checkpoint(read_offset)
                    log.info("processor.stopped", checkpoint=self.offset)
                    return
                batch, read_offset = _SpoolBatch(), self._replay_from_checkpoint()
                handed_offset = read_offset

    def _hand_off(self, batch: RowBatch, offset: int) -> bool:
        """Build the batch's rows and queue their insert; False if the previous insert failed
        (nothing is queued then). Every ``state_checkpoint_seconds`` the state as of
        ``offset`` goes with it, encoded now and written once the rows are in."""
        if not self._wait_for_insert():
            return False
        checkpoint = None
        if time.monotonic() - self._checkpointed_at >= self.settings.state_checkpoint_seconds:
            checkpoint = self.state.snapshot(offset)
            self._checkpointed_at = time.monotonic()
        # its blocks are built here: the sessions go on changing once the next batch is processed
        self.sink.add(batch, (offset, checkpoint))
        self._in_flight = self._sink.submit(self._insert)
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
        """After a failed state write: drop uncommitted state and go back to the checkpoint (rows
        inserted since then come again, identical, and collapse)."""
        self.state.discard()
        self.inserted_offset = self.offset
        time.sleep(1.0)
        return self.offset

    def _process_guarded(self, event: EnrichedEvent, batch: _SpoolBatch) -> None:
        """Stages 3-4 for one event (the core's step); an event they cannot process becomes a
        dead letter (its visitor's state is left as it was) and the processor goes on."""
        if self.tombstones.erased and self.tombstones.drops(
            event.project_id, event.visitor_id, event.user_id, event.received_at
        ):
            metrics.EVENTS_ERASED.inc()
            return  # its user was erased after it arrived (a replay from the checkpoint)
        key = state_key(event.project_id, event.visitor_key)
        self.step.run_or_dead_letter(key, event, self.state, batch, batch)

    def _insert(self) -> bool:
        """The sink thread: insert the batch handed over (retried until it is in), then commit
        what it reached; True when all went in."""
        try:
            self.commit(self.sink.flush(stop=lambda _attempt: self._abandon.is_set()))
        except Exception:
            log.exception("processor.commit_failed")
            return False
        return True

    def commit(self, position: Any) -> None:
        """The core's ``Committer``: the rows below ``position``'s offset are in; write the
        checkpoint that came with them (state and offset, atomically), if any."""
        offset, checkpoint = position
        if checkpoint is not None:
            self.state.store.write(checkpoint)
            self.offset = offset
        self.inserted_offset = offset
        self.on_inserted(offset)
        metrics.SPOOL_LAG_BYTES.set(self.lag_bytes)
