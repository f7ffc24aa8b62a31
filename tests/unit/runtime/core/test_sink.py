"""The core's sink: rows go in order, a failed insert is retried until it is in (never
skipped), and a driver commits only what a flush returned."""

from __future__ import annotations

import asyncio

import pytest
from tenacity import stop_after_attempt, wait_none

from pipeline import metrics
from pipeline.runtime.core.batch import RowBatch
from pipeline.runtime.core.sink import RowSink
from pipeline.runtime.core.step import EventStep
from schemas.keys import state_key
from tests.factories import BASE_MS, MINUTE_MS, MemoryStates, enriched

TIMEOUT_MS = 30 * MINUTE_MS


class FlakyWriter:
    """The ``BlockWriter`` port: fails the attempts numbered in ``failing``, keeps the rest."""

    def __init__(self, failing: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.failing, self.attempts, self.tables = set(failing), 0, []

    def insert_once(self, block) -> None:
        self.attempts += 1
        if self.attempts in self.failing:
            raise ConnectionError("ClickHouse is away")
        self.tables.append((block.table, block.row_count))


class Committed:
    """The ``Committer`` port as a list of positions."""

    def __init__(self) -> None:
        self.positions: list[object] = []

    def commit(self, position: object) -> None:
        self.positions.append(position)


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    monkeypatch.setattr("pipeline.retries.INSERT_WAIT", wait_none())


def batch_of(visitors: int) -> RowBatch:
    step, states, batch = EventStep(TIMEOUT_MS), MemoryStates(), RowBatch()
    for i in range(visitors):
        event = enriched(visitor_id=f"v{i}", timestamp=BASE_MS + i)
        step.run(state_key(event.project_id, event.visitor_key), event, states, batch)
    return batch


def test_a_flush_retries_from_the_failed_block_and_returns_the_position_to_commit():
    writer, committed = FlakyWriter(failing={2, 3}), Committed()
    sink = RowSink(writer)
    failures = metrics.SINK_FAILURES._value.get()
    sink.add(batch_of(3), position=("offset", 42))
    committed.commit(sink.flush())
    assert writer.tables == [("events", 3), ("sessions", 3)]  # events once, then sessions
    assert writer.attempts == 4
    assert metrics.SINK_FAILURES._value.get() == failures + 2
    assert committed.positions == [("offset", 42)] and not sink.pending


def test_batches_added_before_a_flush_go_in_together_in_order():
    writer = FlakyWriter()
    sink = RowSink(writer)
    sink.add(batch_of(1), position=1)
    sink.add(batch_of(2), position=2)
    assert sink.flush() == 2
    assert writer.tables == [("events", 1), ("sessions", 1), ("events", 2), ("sessions", 2)]


def test_a_flush_told_to_stop_raises_and_keeps_its_rows_for_the_next():
    writer = FlakyWriter(failing={1, 2, 3})
    sink = RowSink(writer)
    sink.add(batch_of(1), position=7)
    with pytest.raises(ConnectionError):
        sink.flush(stop=stop_after_attempt(2))  # nothing to commit
    assert sink.pending and writer.tables == []
    assert sink.flush() == 7
    assert writer.tables == [("events", 1), ("sessions", 1)]


def test_an_async_flush_retries_in_the_executor_and_a_cancellation_goes_through(monkeypatch):
    writer = FlakyWriter(failing={1})
    sink = RowSink(writer)
    sink.add(batch_of(2), position="p")
    assert asyncio.run(sink.flush_async()) == "p"
    assert writer.tables == [("events", 2), ("sessions", 2)]

    class Away:
        def insert_once(self, block) -> None:
            raise ConnectionError("ClickHouse is away")

    from tenacity import wait_fixed

    monkeypatch.setattr("pipeline.retries.INSERT_WAIT", wait_fixed(0.05))
    stuck = RowSink(Away())
    stuck.add(batch_of(1))

    async def cancel_while_retrying() -> None:
        task = asyncio.ensure_future(stuck.flush_async())
        await asyncio.sleep(0.2)  # a few failed attempts
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_retrying())
    assert stuck.pending  # never skipped: the rows wait for the next flush
