"""The worker's Faust consumer never commits past an unacknowledged record."""

from __future__ import annotations

import asyncio
import time

import faust
import faust.transport.consumer
from faust.types import TP

from pipeline.runtime.faust_consumer import (
    LOST_HEAD_SECONDS,
    STALLED_SECONDS,
    AtLeastOnceConsumer,
    use_at_least_once_consumer,
)

PARTITION = TP("events.enriched", 0)


def consumer() -> AtLeastOnceConsumer:
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = faust.App("test-consumer", broker="kafka://127.0.0.1:1")
    use_at_least_once_consumer(app)
    built = app.consumer
    assert isinstance(built, AtLeastOnceConsumer)
    return built


def test_a_single_unacknowledged_record_at_the_head_holds_the_commit_back():
    c = consumer()
    c._committed_offset[PARTITION] = 2585  # the next record to process is 2585
    c._acked[PARTITION] = [2586, 2587, 2588, 2589]  # Faust's own consumer commits 2590 here
    assert c._new_offset(PARTITION) is None
    c._acked[PARTITION].append(2585)  # once it is processed, all five commit
    assert c._new_offset(PARTITION) == 2590


def test_records_below_the_highest_offset_read_are_still_delivered():
    c = consumer()
    c._read_offset[PARTITION] = 500  # set by a seek or by a record read before it
    assert c._read_offset[PARTITION] is None  # the fetch loop neither drops nor skips a gap


class HeldMessage:
    """What Faust keeps in ``_unacked_messages`` for a record a stream took."""

    def __init__(self, tp: TP, offset: int) -> None:
        self.tp, self.offset = tp, offset


def stalled(c: AtLeastOnceConsumer, missing_for: float) -> None:
    """The record at committed offset 40 missing for ``missing_for`` s, 41-43 acknowledged."""
    c._committed_offset[PARTITION] = 40
    c._acked[PARTITION] = [41, 42, 43]
    assert c._new_offset(PARTITION) is None
    c._head_missing_since[PARTITION] -= missing_for
    c.assignment = lambda: {PARTITION}  # type: ignore[method-assign]


def test_a_head_record_missing_and_held_by_no_stream_is_lost():
    c = consumer()
    stalled(c, LOST_HEAD_SECONDS + 1)
    assert c.lost_heads(time.monotonic()) == {PARTITION: 40}


def test_a_head_record_a_stream_still_holds_is_not_lost():
    c = consumer()
    stalled(c, LOST_HEAD_SECONDS + 1)
    message = HeldMessage(PARTITION, 40)  # e.g. in a sink batch whose insert is retried
    c._unacked_messages.add(message)
    assert c.lost_heads(time.monotonic()) == {}


def test_a_head_record_missing_briefly_is_not_lost_yet():
    c = consumer()
    stalled(c, LOST_HEAD_SECONDS / 2)
    assert c.lost_heads(time.monotonic()) == {}


def test_once_the_head_is_acknowledged_the_partition_is_no_longer_watched():
    c = consumer()
    stalled(c, LOST_HEAD_SECONDS + 1)
    c._acked[PARTITION].insert(0, 40)
    assert c._new_offset(PARTITION) == 44
    assert c.lost_heads(time.monotonic()) == {}


def test_a_partition_no_longer_assigned_is_not_sought():
    c = consumer()
    stalled(c, LOST_HEAD_SECONDS + 1)
    c.assignment = lambda: set()  # type: ignore[method-assign]
    assert c.lost_heads(time.monotonic()) == {}


def test_a_partition_behind_its_end_with_nothing_delivered_for_long_is_stalled():
    c = consumer()
    c._committed_offset[PARTITION] = 3
    now = time.monotonic()
    assert c.stalled({PARTITION: 40}, now) == {}  # first seen behind: the clock starts
    assert c.stalled({PARTITION: 41}, now + STALLED_SECONDS - 1) == {}
    assert c.stalled({PARTITION: 41}, now + STALLED_SECONDS) == {PARTITION: 3}


def test_progress_or_a_held_record_or_nothing_to_read_is_not_a_stall():
    c = consumer()
    c._committed_offset[PARTITION] = 3
    now = time.monotonic()
    c.stalled({PARTITION: 40}, now)
    c._committed_offset[PARTITION] = 10  # the commit moved: the clock starts again
    assert c.stalled({PARTITION: 40}, now + STALLED_SECONDS) == {}
    assert c.stalled({PARTITION: 40}, now + 2 * STALLED_SECONDS - 1) == {}
    held = HeldMessage(PARTITION, 10)  # Faust keeps these in a WeakSet
    c._unacked_messages.add(held)  # type: ignore[arg-type]
    assert c.stalled({PARTITION: 40}, now + 3 * STALLED_SECONDS) == {}  # a stream is on it
    c._unacked_messages.clear()
    assert c.stalled({PARTITION: 10}, now + 4 * STALLED_SECONDS) == {}  # nothing to read
    c._acked[PARTITION] = [11]
    assert c.stalled({PARTITION: 40}, now + 5 * STALLED_SECONDS) == {}  # records do arrive


def stalled_and_sought(c: AtLeastOnceConsumer, paused: bool) -> dict[TP, int]:
    """One stall of PARTITION (head 3, end 40), found by the watchdog: the offsets it sought."""
    c._committed_offset[PARTITION] = 3
    if paused:
        c.pause_partitions({PARTITION})
    sought: dict[TP, int] = {}

    async def highwaters(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 40)

    async def seek(tp: TP, offset: int) -> None:
        sought[tp] = offset

    c.highwaters = highwaters  # type: ignore[method-assign]
    c.seek = seek  # type: ignore[method-assign]
    c.assignment = lambda: {PARTITION}  # type: ignore[method-assign]
    c._stalled_since[PARTITION] = (3, time.monotonic() - STALLED_SECONDS)
    asyncio.get_event_loop().run_until_complete(c.fetch_stalled_again())
    return sought


def test_a_stalled_partition_is_sought_back_to_its_head():
    c = consumer()
    assert stalled_and_sought(c, paused=False) == {PARTITION: 3}
    assert PARTITION not in c._paused_partitions


def test_a_stalled_stream_partition_left_paused_after_a_rebalance_is_resumed():
    # Faust's recovery resumes the stream partitions only if the generation did not change
    # meanwhile; a partition left paused gets its records to no stream, however often sought.
    c = consumer()
    assert stalled_and_sought(c, paused=True) == {PARTITION: 3}
    assert PARTITION not in c._paused_partitions
    assert PARTITION in c._get_active_partitions()


def test_a_paused_partition_is_left_alone_while_tables_are_recovered():
    c = consumer()
    c.pause_partitions({PARTITION})
    c.app.in_recovery = True
    assert not c.left_paused(PARTITION)
    c.app.in_recovery = False
    assert c.left_paused(PARTITION)


def test_records_acknowledged_since_the_last_commit_are_not_delivered_again(monkeypatch):
    # A lost head fetched again brings the later records too: those already acknowledged (so
    # processed) must not be processed twice — a replay longer than sessionize's window of
    # recent event ids counted them again.
    c = consumer()
    other = TP("events.enriched", 3)
    fetched = [(PARTITION, HeldMessage(PARTITION, n)) for n in range(5, 11)]
    fetched.append((other, HeldMessage(other, 7)))

    async def base_getmany(self, timeout):  # what Faust's fetch loop would yield
        for tp, message in fetched:
            yield tp, message

    monkeypatch.setattr(faust.transport.consumer.Consumer, "getmany", base_getmany)
    c._acked_index[PARTITION].update({6, 7, 9})

    async def delivered() -> list[tuple[TP, int]]:
        return [(tp, m.offset) async for tp, m in c.getmany(timeout=0.1)]

    got = asyncio.get_event_loop().run_until_complete(delivered())
    assert got == [(PARTITION, 5), (PARTITION, 8), (PARTITION, 10), (other, 7)]


NEVER_COMMITTED = TP("events.enriched", 1)
COMMITTED_AT_ZERO = TP("events.enriched", 2)
CHANGELOG = TP("test-consumer-state-changelog", 0)


class AIOKafkaConsumer:
    """What ``perform_seek`` asks of aiokafka's consumer: committed offsets (``None`` or 0 for
    a partition never committed; ``seek_to_committed`` seeks only the others), log starts at 7."""

    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.committed, self.positions = committed, {}

    async def seek_to_committed(self) -> dict[TP, int | None]:
        self.positions.update({tp: at for tp, at in self.committed.items() if at})
        return dict(self.committed)

    async def seek_to_beginning(self, *tps: TP) -> None:
        self.positions.update(dict.fromkeys(tps, 7))

    async def position(self, tp: TP) -> int:
        return self.positions[tp]


class ConsumerThread:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer

    def _ensure_consumer(self) -> AIOKafkaConsumer:
        return self.consumer

    async def call_thread(self, fun, *args):  # type: ignore[no-untyped-def]
        return await fun(*args)


def after_a_rebalance(c: AtLeastOnceConsumer, committed: dict[TP, int | None]) -> dict:
    """``c`` after ``perform_seek`` with ``committed`` offsets: the positions it sought."""
    c.app.Table("state", partitions=1)  # changelog topic: CHANGELOG.topic
    kafka = AIOKafkaConsumer(committed)
    c._thread = ConsumerThread(kafka)  # type: ignore[assignment]

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 7)

    c.earliest_offsets = earliest_offsets  # type: ignore[method-assign]
    c.assignment = lambda: set(committed)  # type: ignore[method-assign]
    asyncio.get_event_loop().run_until_complete(c.perform_seek())
    return kafka.positions


def test_a_partition_never_committed_is_sought_to_its_log_start_and_held_from_there():
    c = consumer()
    committed = {PARTITION: 40, NEVER_COMMITTED: None, COMMITTED_AT_ZERO: 0, CHANGELOG: None}
    positions = after_a_rebalance(c, committed)
    assert positions == {PARTITION: 40, NEVER_COMMITTED: 7, COMMITTED_AT_ZERO: 7}
    assert c._committed_offset[PARTITION] == 40
    c._acked[NEVER_COMMITTED] = [9, 10]  # 7 and 8 were dropped in flight
    assert c._new_offset(NEVER_COMMITTED) is None  # Faust's own commits 11 here
    c._head_missing_since[NEVER_COMMITTED] -= LOST_HEAD_SECONDS + 1
    assert c.lost_heads(time.monotonic()) == {NEVER_COMMITTED: 7}  # fetched again from 7
    c._acked[NEVER_COMMITTED] += [7, 8]
    assert c._new_offset(NEVER_COMMITTED) == 11
    c._acked[COMMITTED_AT_ZERO] = [7, 8]  # from its log start: commits at once
    assert c._new_offset(COMMITTED_AT_ZERO) == 9
    c._acked[CHANGELOG] = [3]  # the table recovery's business: Faust's rule
    assert c._new_offset(CHANGELOG) == 4


def test_a_log_start_not_known_holds_the_first_commit():
    c = consumer()
    after_a_rebalance(c, {NEVER_COMMITTED: None})
    c._log_starts.clear()  # not known (yet)
    c._acked[NEVER_COMMITTED] = [7, 8]
    assert c._new_offset(NEVER_COMMITTED) is None
    asyncio.get_event_loop().run_until_complete(c.read_log_starts())  # the watchdog's round
    assert c._new_offset(NEVER_COMMITTED) == 9


RECOVERED = TP("trackhouse-visitor-state-changelog", 0)  # a table's, being recovered


def test_a_changelog_partition_recovered_no_further_for_long_is_fetched_again():
    # Records drained by aiokafka for a partition Faust had just removed from its active set
    # are skipped; the recovery then waits for them forever (every stream paused).
    c = consumer()
    c.assignment = lambda: {RECOVERED}  # type: ignore[method-assign]
    now = time.monotonic()
    assert c.lost_changelog({RECOVERED: -1}, {RECOVERED: 81}, now) == {}
    later = now + STALLED_SECONDS
    assert c.lost_changelog({RECOVERED: -1}, {RECOVERED: 81}, later) == {RECOVERED: 0}
    # sought: the clock starts again, and the next seek comes after the record recovered last
    assert c.lost_changelog({RECOVERED: -1}, {RECOVERED: 81}, later + 1) == {}
    at = later + 2 * STALLED_SECONDS
    assert c.lost_changelog({RECOVERED: 40}, {RECOVERED: 41}, at) == {}  # it moved
    at += STALLED_SECONDS
    assert c.lost_changelog({RECOVERED: 40}, {RECOVERED: 41}, at) == {RECOVERED: 41}


def test_a_changelog_partition_recovering_or_done_or_not_assigned_is_not_sought():
    c = consumer()
    c.assignment = lambda: {RECOVERED}  # type: ignore[method-assign]
    now = time.monotonic()
    for step in range(5):  # records keep coming
        assert c.lost_changelog({RECOVERED: step * 10}, {RECOVERED: 50}, now) == {}
        now += STALLED_SECONDS
    assert c.lost_changelog({RECOVERED: 81}, {RECOVERED: 0}, now + 60) == {}  # recovered
    other = TP("trackhouse-visitor-state-changelog", 1)
    c.lost_changelog({other: 3}, {other: 9}, now)
    assert c.lost_changelog({other: 3}, {other: 9}, now + 60) == {}  # not this worker's


def test_the_changelog_watchdog_seeks_only_while_tables_are_recovered():
    c = consumer()
    sought: dict[TP, int] = {}

    async def seek(tp: TP, offset: int) -> None:
        sought[tp] = offset

    c.seek = seek  # type: ignore[method-assign]
    c.assignment = lambda: {RECOVERED}  # type: ignore[method-assign]
    recovery = c.app.tables.recovery
    recovery.active_highwaters[RECOVERED] = 80
    recovery.active_offsets[RECOVERED] = 12
    c._changelog_still_since[RECOVERED] = (12, time.monotonic() - STALLED_SECONDS)
    run = asyncio.get_event_loop().run_until_complete
    c.app.in_recovery = False
    assert run(c.fetch_lost_changelog_again()) == {} and not sought
    c._changelog_still_since[RECOVERED] = (12, time.monotonic() - STALLED_SECONDS)
    c.app.in_recovery = True
    assert run(c.fetch_lost_changelog_again()) == {RECOVERED: 13} == sought


def test_stream_partitions_are_not_judged_stalled_while_tables_are_recovered():
    c = consumer()
    c.app.in_recovery = True  # Faust pauses them meanwhile, and seeks them when done
    assert stalled_and_sought(c, paused=True) == {}
