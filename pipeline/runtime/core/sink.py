"""Rows into ClickHouse: ``add`` batches, ``flush`` them in order, retried until they are in."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from tenacity import stop_never

from pipeline import metrics, retries
from pipeline.deadletter.letters import reason_of
from pipeline.runtime.core.batch import RowBatch
from pipeline.runtime.core.ports import BlockWriter, Notices
from pipeline.sink.rows import InsertBlock

log = structlog.get_logger(__name__)


class RowSink:
    """The one insert-with-metrics path of both runtimes.

    ``add`` builds a batch's column blocks at once (so later changes to its sessions do not
    leak in) and remembers the position it reaches (what a driver commits afterwards);
    ``flush`` inserts every block added since the last flush, in order, and returns the last
    position added. A failed insert is retried by ``retries.insert`` from the block that failed
    (the blocks before it are in); a batch is never skipped. ``flush`` blocks (a thread);
    ``flush_async`` runs each attempt in the loop's executor and can be cancelled between
    attempts. Not thread-safe: ``add`` and ``flush`` of one sink take turns.
    """

    def __init__(self, writer: BlockWriter, notices: Notices | None = None) -> None:
        self.writer = writer
        self.notices = notices
        self._notices: list[object] = []
        self._blocks: list[InsertBlock] = []
        self._events = self._sessions = 0
        self._dead_stages: list[str] = []
        self._position: Any = None

    @property
    def pending(self) -> bool:
        """Whether blocks wait to be inserted."""
        return bool(self._blocks)

    def add(self, batch: RowBatch, position: Any = None) -> None:
        self._blocks.extend(block for block in batch.blocks() if block.row_count)
        if self.notices is not None and batch.events:
            # pending deliveries go in with the events, before the driver commits
            block, pending = self.notices.block(batch.events)
            if block is not None:
                self._blocks.append(block)
                self._notices.extend(pending)
        self._events += len(batch.events)
        self._sessions += len(batch.sessions)
        self._dead_stages.extend(letter.stage for letter in batch.dead)
        self._position = position

    def flush(self, stop: retries.Stop = stop_never) -> Any:
        """Insert what was added; returns the position it reached. Retries until it is in,
        or until ``stop`` says to give up (then raises the last error; the blocks not yet in
        stay pending)."""
        started = time.perf_counter()
        for attempt in retries.insert(self._failed, stop):
            with attempt:
                self._insert_pending()
        return self._flushed(started)

    async def flush_async(self) -> Any:
        """``flush`` from the event loop: retried forever; a cancellation goes through (the
        blocks not yet in stay pending)."""
        started, loop = time.perf_counter(), asyncio.get_running_loop()
        async for attempt in retries.insert_async(self._failed):
            with attempt:
                await loop.run_in_executor(None, self._insert_pending)
        return self._flushed(started)

    def _insert_pending(self) -> None:
        blocks = self._blocks
        while blocks:
            self.writer.insert_once(blocks[0])
            del blocks[0]

    def _failed(self, exc: BaseException) -> None:
        metrics.SINK_FAILURES.inc()
        log.error("sink.insert_failed", error=reason_of(exc), events=self._events)

    def _flushed(self, started: float) -> Any:
        elapsed = time.perf_counter() - started
        events, sessions = self._events, self._sessions
        metrics.EVENTS_STORED.inc(events)
        for stage in self._dead_stages:
            metrics.DEAD_LETTERS.labels(stage).inc()
        metrics.SINK_BATCH_ROWS.observe(events)
        metrics.SINK_BATCH_SECONDS.observe(elapsed)
        log.debug("sink.flushed", events=events, sessions=sessions, seconds=round(elapsed, 4))
        position, self._position = self._position, None
        if self._notices:
            notices, self._notices = self._notices, []
            self.notices.stored(notices)  # type: ignore[union-attr]
        self._events = self._sessions = 0
        self._dead_stages = []
        return position
