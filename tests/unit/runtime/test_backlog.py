"""The edge's measure of how far behind the storage process is."""

from __future__ import annotations

from pipeline.runtime.backlog import Backlog


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_pending_is_zero_seconds_behind():
    assert Backlog(FakeClock()).seconds_behind(0) == 0.0


def test_age_of_the_oldest_append_not_yet_inserted():
    clock = FakeClock()
    backlog = Backlog(clock)
    backlog.appended(100, accepted_at=100.0)
    backlog.appended(250, accepted_at=100.4)
    clock.now = 101.0
    assert backlog.seconds_behind(0) == 1.0
    assert backlog.seconds_behind(100) == 101.0 - 100.4  # the first append is stored
    assert backlog.seconds_behind(250) == 0.0
    assert backlog.seconds_behind(100) == 0.0  # what was popped stays popped


def test_an_append_that_finished_out_of_order_waits_behind_the_earlier_one():
    clock = FakeClock()
    backlog = Backlog(clock)
    backlog.appended(300, accepted_at=100.0)  # synced first, though its offset is higher
    backlog.appended(200, accepted_at=100.1)
    clock.now = 100.5
    assert backlog.seconds_behind(200) == 0.5  # overstated until 300 is inserted too
    assert backlog.seconds_behind(300) == 0.0
