"""The embedded driver over a real spool and state store, with an in-memory ClickHouse (the
``BlockWriter`` port): it commits a checkpoint only once the rows below it are in, retries a
failing insert without skipping it, and a stop that outlasts its timeout gives up unchecked."""

from __future__ import annotations

import time

import pytest
from tenacity import wait_fixed

from pipeline.runtime.processor import Processor
from pipeline.runtime.spool import Spool, SpoolReader
from pipeline.runtime.spool_records import encode_event
from pipeline.runtime.state_store import StateStore
from pipeline.settings import Settings
from tests.factories import BASE_MS, enriched


class Writer:
    """Keeps the blocks it is given; fails every attempt while ``away``, or the first
    ``failures`` attempts."""

    def __init__(self, failures: int = 0, away: bool = False) -> None:
        self.failures, self.away, self.attempts, self.rows = failures, away, 0, {}

    def insert_once(self, block) -> None:
        self.attempts += 1
        if self.away or self.attempts <= self.failures:
            raise ConnectionError("ClickHouse is away")
        self.rows[block.table] = self.rows.get(block.table, 0) + block.row_count


@pytest.fixture(autouse=True)
def short_waits(monkeypatch):
    monkeypatch.setattr("pipeline.retries.INSERT_WAIT", wait_fixed(0.05))


def spooled(tmp_path, count: int) -> tuple[Settings, int]:
    settings = Settings(data_dir=tmp_path, sink_flush_seconds=0.1, state_checkpoint_seconds=0)
    spool = Spool(settings.spool_dir)
    events = [enriched(visitor_id=f"v{i % 5}", timestamp=BASE_MS + i) for i in range(count)]
    _, end = spool.append([encode_event(e) for e in events])
    spool.sync(end)
    spool.close()
    return settings, end


def run_until(processor: Processor, done, seconds: float = 20) -> None:
    processor.start()
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_rows_go_in_through_failed_attempts_then_state_and_offset_are_checkpointed(tmp_path):
    settings, end = spooled(tmp_path, 50)
    store, writer, reported = StateStore(settings.state_dir), Writer(failures=3), []
    processor = Processor(
        SpoolReader(settings.spool_dir, end), store, writer, settings, on_inserted=reported.append
    )
    run_until(processor, lambda: processor.inserted_offset >= end)
    processor.stop()
    assert writer.rows == {"events": 50, "sessions": 5}  # each event once, never skipped
    assert writer.attempts > 3 and reported[-1] == end
    assert store.checkpoint() == end
    store.close()


def test_a_stop_that_outlasts_its_timeout_gives_up_and_checkpoints_nothing(tmp_path):
    settings, end = spooled(tmp_path, 20)
    store, writer = StateStore(settings.state_dir), Writer(away=True)
    processor = Processor(SpoolReader(settings.spool_dir, end), store, writer, settings)
    run_until(processor, lambda: writer.attempts >= 3)
    started = time.monotonic()
    processor.stop(timeout=0.5)
    assert time.monotonic() - started < 10
    assert writer.rows == {} and store.checkpoint() == 0  # replayed at the next start
    assert processor.sink.pending
    store.close()
