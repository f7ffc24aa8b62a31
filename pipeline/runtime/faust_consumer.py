"""Faust's Kafka consumer without the shortcuts that lose or stall messages around a rebalance.

Found by the two-worker and kill -9 tests (``tests/integration``) with Faust's dev log:

1. After a partition came back, records fetched before the seek to the committed offset were
   delivered first; Faust's consumer then dropped every later record below the highest offset
   it had read ("DROPPED MESSAGE ROFF") and counted the offsets it jumped over as a gap that
   needs no ack. Here every fetched record is delivered: our topics have no gaps (no compaction,
   no transactions) and every stage is idempotent (deterministic event ids, ReplacingMergeTree,
   sessionize recognises re-deliveries), so a re-delivery is simply processed again.
2. It committed over an unacknowledged record at the head of a partition when it was the only
   one missing (``_new_offset`` holds back only head gaps of more than one offset;
   faust-streaming issue #606, pull request #707). Here a commit never passes an offset that
   was not acknowledged.
3. Records fetched around a rebalance can be dropped before a stream takes them (Faust's fetch
   loop drops the rest of a fetch when the generation changes, streams skip records of an old
   generation). Faust's remedy is ``perform_seek``, back to the committed offsets once the
   tables are recovered; but aiokafka's ``seek_to_committed`` leaves a partition never
   committed where it is, and Faust then keeps no committed offset for it, so nothing fetched
   the dropped records again nor held the commit back: the kill -9 test (first worker killed
   before its first commit) lost or stalled on them in most runs. Here such a partition is
   sought to its log start, which becomes its head for (2) and the watchdogs.
4. Faust's ``seek`` ran aiokafka's in the app's thread, racing the consumer thread's fetcher
   (a seek could be overwritten by a fetch result being consumed). Here it runs in the
   consumer's thread.

5. The same drop hits a table's changelog (Faust's fetch loop also skips records of a
   partition that left the live set of active partitions, which a rebalance or the recovery
   changes while the consumer's thread fetches). aiokafka's position has passed them, so a
   recovery waiting for them waited forever, every stream paused (the two-worker test: a
   changelog partition read to its end by aiokafka, recovered to -1).

A dropped record is fetched again by three watchdogs (counted in
``trackhouse_records_fetched_again``, logged as warnings): a partition whose record at the head
has been missing for ``LOST_HEAD_SECONDS`` while later ones were acknowledged, and one behind
its log end with nothing delivered or acknowledged for ``STALLED_SECONDS``, are sought back to
the head (when no stream holds one of their records); a stalled stream partition that Faust
left paused after a rebalance is resumed too. During a table recovery, an active changelog
partition recovered no further for ``STALLED_SECONDS`` while records remain is sought back to
the record after the last one recovered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service

from pipeline import metrics
from pipeline.kafka import internals

LOST_HEAD_SECONDS = 10.0
LOST_HEAD_CHECK_SECONDS = 5.0
STALLED_SECONDS = 10.0
FETCH_MAX_WAIT_MS = 300


class _NoReadOffsets(dict):
    """Faust's "highest offset read" per partition, with lookups that always answer ``None``:
    the fetch loop then neither drops records below it nor records gaps above it. Writes are
    kept (Faust sets them on seeks) but never read back."""

    def __getitem__(self, tp: Any) -> None:
        return None


class ShortFetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with aiokafka's ``fetch_max_wait_ms`` at ``FETCH_MAX_WAIT_MS``
    instead of the 1,500 ms Faust hard-codes. With 1,500 the worker received events.raw in
    bursts ~1.6 s apart at 10,000 events/s (a batch's records were ~1 s old before it started);
    at 300 ms (and at 100 ms, with more broker CPU) p50 from POST to row went from ~2.1 to
    ~1.4 s in bench_worker."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        internals.set_fetch_max_wait_ms(consumer, FETCH_MAX_WAIT_MS)  # read when it starts
        return consumer


class AtLeastOnceConsumer(faust_aiokafka.Consumer):
    """The aiokafka-driver consumer of Faust, delivering every fetched record and committing a
    partition only up to its first unacknowledged offset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        internals.replace_read_offsets(self, _NoReadOffsets())
        self._head_missing_since: dict[TP, float] = {}
        self._stalled_since: dict[TP, tuple[int, float]] = {}
        self._changelog_still_since: dict[TP, tuple[int, float]] = {}
        self._never_committed: set[TP] = set()
        self._log_starts: dict[TP, int] = {}

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's ``getmany`` without the records acknowledged since the last commit. A head
        record fetched again (``fetch_lost_heads_again``) brings every later record of its
        partition again, and those were processed already: sessionize recognises only a
        visitor's latest 128 event ids, so a replay longer than that counted events twice
        (found by the kill -9 test: a head lost for ~15 s around a broker outage)."""
        acked = internals.acked_index(self)
        async for tp, message in super().getmany(timeout):
            done = acked.get(tp)
            if done and message.offset in done:
                continue
            yield tp, message

    def _new_consumer_thread(self) -> ShortFetchWaitConsumerThread:
        return ShortFetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets (after a table recovery), except that a stream
        partition never committed is sought to its log start, which becomes its head
        (``_head``). aiokafka's ``seek_to_committed`` leaves such a partition where it is, so
        records fetched and dropped since the assignment were never fetched again."""
        thread = internals.consumer_thread(self)
        committed, starts = await thread.call_thread(
            self._seek_to_committed_or_start, internals.ensure_consumer(thread)
        )
        internals.committed_offsets(self).update(
            {tp: offset or None for tp, offset in committed.items() if offset is not None}
        )
        self._never_committed = set(starts)
        self._log_starts.update(starts)

    async def _seek_to_committed_or_start(
        self, consumer: Any
    ) -> tuple[dict[TP, int | None], dict[TP, int]]:
        """In the consumer's thread, in one call (a call waits behind a fetch): committed
        offsets, and the log starts the never committed stream partitions were sought to."""
        committed = await consumer.seek_to_committed()
        never = [
            t for t, at in committed.items() if not at and not internals.is_changelog_tp(self, t)
        ]
        if not never:
            return committed, {}
        await consumer.seek_to_beginning(*never)
        return committed, {tp: await consumer.position(tp) for tp in never}

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._never_committed -= revoked
        for tp in revoked:
            self._log_starts.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def _seek(self, partition: TP, offset: int) -> None:
        """Seek in the consumer's own thread: aiokafka's ``seek`` changes its fetcher's state
        and futures, which belong to that thread's loop (Faust calls it from the app's)."""
        thread = internals.consumer_thread(self)
        await thread.call_thread(thread.seek, partition, offset)

    def _head(self, tp: TP) -> int | None:
        """The first offset of ``tp`` not processed for sure: its committed offset, or the log
        start of a partition never committed."""
        committed = internals.committed_offsets(self)[tp]
        if committed is None and tp in self._never_committed:
            return self._log_starts.get(tp)
        return committed

    def _new_offset(self, tp: TP) -> int | None:
        acked = internals.acked_offsets(self)[tp]
        head = self._head(tp)
        if acked and head is None and tp in self._never_committed:
            return None  # its log start is not known yet: hold the first commit until it is
        if acked and head is not None and min(acked) > head:
            # the record at the head is not processed yet
            self._head_missing_since.setdefault(tp, time.monotonic())
            return None
        self._head_missing_since.pop(tp, None)
        return super()._new_offset(tp)

    def lost_heads(self, now: float) -> dict[TP, int]:
        """Assigned partitions whose record at the head (``_head``) has been missing for
        ``LOST_HEAD_SECONDS`` while later records were acknowledged, and that no stream holds
        (Faust tracks each record a stream took until it is acknowledged): head offsets."""
        held = {(m.tp, m.offset) for m in list(internals.unacked_messages(self))}
        assigned = self.assignment()
        lost: dict[TP, int] = {}
        for tp, since in list(self._head_missing_since.items()):
            head = self._head(tp)
            if tp not in assigned or head is None:
                self._head_missing_since.pop(tp, None)
            elif now - since >= LOST_HEAD_SECONDS and (tp, head) not in held:
                lost[tp] = head
        return lost

    def stalled(self, ends: dict[TP, int], now: float) -> dict[TP, int]:
        """Partitions with records past the head (``ends``: log end offsets) of which none
        was delivered or acknowledged for ``STALLED_SECONDS`` while the head stood still:
        head offsets. (Seen after a restart under load: the worker was assigned everything
        and fetched nothing more, with no stream holding a record.)"""
        held = {message.tp for message in list(internals.unacked_messages(self))}
        stalled: dict[TP, int] = {}
        for tp, end in ends.items():
            head = self._head(tp)
            if head is None or end <= head or tp in held or internals.acked_offsets(self)[tp]:
                self._stalled_since.pop(tp, None)
                continue
            if still_for(self._stalled_since, tp, head, now) >= STALLED_SECONDS:
                stalled[tp] = head
        return stalled

    async def read_log_starts(self) -> None:
        """Read the log start of the assigned partitions never committed whose start is not
        known or whose head is missing (read again before the watchdog seeks there: retention
        may have moved it). ``perform_seek`` found the others; idle ones cost no request."""
        assigned = self.assignment()
        tps = [
            tp
            for tp in self._never_committed
            if tp in assigned
            and internals.committed_offsets(self)[tp] is None
            and (tp not in self._log_starts or tp in self._head_missing_since)
        ]
        if not tps:
            return
        try:
            starts = await self.earliest_offsets(*tps)
        except Exception as exc:  # the broker is away: try again next round
            self.log.info("Could not read log start offsets: %r", exc)
            return
        self._log_starts.update({tp: offset for tp, offset in starts.items() if tp in tps})

    @Service.timer(LOST_HEAD_CHECK_SECONDS)
    async def _watch_lost_heads(self) -> None:
        await self.read_log_starts()
        for tp in await self.fetch_lost_heads_again():
            metrics.RECORDS_FETCHED_AGAIN.labels(tp.topic, str(tp.partition)).inc()
        for tp in await self.fetch_stalled_again():
            metrics.RECORDS_FETCHED_AGAIN.labels(tp.topic, str(tp.partition)).inc()
        for tp in await self.fetch_lost_changelog_again():
            metrics.RECORDS_FETCHED_AGAIN.labels(tp.topic, str(tp.partition)).inc()

    async def fetch_stalled_again(self) -> dict[TP, int]:
        """Seek every partition of ``stalled`` back to its head (not while tables are
        recovered: Faust pauses the stream partitions then, and seeks them when done)."""
        if not self.flow_active or self.app.in_recovery:
            return {}
        watched = [tp for tp in self.assignment() if self._head(tp) is not None]
        if not watched:
            return {}
        try:
            ends = dict(await self.highwaters(*watched))
        except Exception as exc:  # the broker is away: nothing to judge by
            self.log.info("Could not read end offsets: %r", exc)
            return {}
        stalled = self.stalled(ends, time.monotonic())
        for tp, offset in stalled.items():
            if self.left_paused(tp):
                # Faust hands a paused partition's records to no stream, so a seek alone
                # fetches them again to no end.
                self.log.warning("Partition %r stalled at %r, paused: resuming it", tp, offset)
                self.resume_partitions({tp})
            else:
                self.log.warning("Partition %r stalled at %r: fetching it again", tp, offset)
            await self.seek(tp, offset)
            self._stalled_since.pop(tp, None)
        return stalled

    def left_paused(self, tp: TP) -> bool:
        """Whether stream partition ``tp`` is paused while the flow runs and no table is
        being recovered. Faust pauses every partition for a rebalance and resumes the stream
        partitions once the tables are recovered, unless the generation changed meanwhile
        (``Recovery._resume_streams`` returns early): then one can stay paused."""
        return (
            tp in internals.paused_partitions(self)
            and not self.app.in_recovery
            and not internals.is_changelog_tp(self, tp)
        )

    async def fetch_lost_heads_again(self) -> dict[TP, int]:
        """Seek every partition of ``lost_heads`` back to its head (the records
        after it come again too, and collapse downstream). Returns what was sought."""
        if not self.flow_active:  # a rebalance seeks to the committed offsets anyway
            return {}
        lost = self.lost_heads(time.monotonic())
        for tp, offset in lost.items():
            self.log.warning("Record %r@%r never arrived: fetching it again", tp, offset)
            await self.seek(tp, offset)
            self._head_missing_since.pop(tp, None)
        return lost

    async def fetch_lost_changelog_again(self) -> dict[TP, int]:
        """During a table recovery, seek every partition of ``lost_changelog`` back to the
        record after the last one recovered. Returns what was sought."""
        if not self.app.in_recovery:
            self._changelog_still_since.clear()
            return {}
        recovery = self.app.tables.recovery
        lost = self.lost_changelog(recovery.active_offsets, recovery.active_remaining())
        for tp, offset in lost.items():
            self.log.warning(
                "Changelog %r recovered nothing for %g s: fetching again from %r",
                tp,
                STALLED_SECONDS,
                offset,
            )
            await self.seek(tp, offset)
        return lost

    def lost_changelog(
        self, recovered: dict[TP, int], remaining: dict[TP, int], now: float | None = None
    ) -> dict[TP, int]:
        """Assigned active changelog partitions with records ``remaining`` whose ``recovered``
        offset stood still for ``STALLED_SECONDS``: the offsets to fetch from again. Should the
        records only have been slow to come, they come twice, and the recovery skips offsets
        it has seen."""
        now = time.monotonic() if now is None else now
        assigned = self.assignment()
        waiting = {
            tp: recovered.get(tp, -1)
            for tp, left in remaining.items()
            if left > 0 and tp in assigned
        }
        clocks = self._changelog_still_since
        for tp in set(clocks) - set(waiting):
            del clocks[tp]
        lost: dict[TP, int] = {}
        for tp, offset in waiting.items():
            if still_for(clocks, tp, offset, now) >= STALLED_SECONDS:
                lost[tp] = max(offset + 1, 0)
                clocks[tp] = (offset, now)  # sought: its clock starts again
        return lost


def still_for(clocks: dict[TP, tuple[int, float]], tp: TP, offset: int, now: float) -> float:
    """How long ``tp``'s ``offset`` has stood still, by the ``(offset, since)`` it had in
    ``clocks`` (updated: a new offset starts its clock again)."""
    seen, since = clocks.get(tp, (offset, now))
    if seen != offset:
        since = now
    clocks[tp] = (offset, since)
    return now - since


def use_at_least_once_consumer(app: faust.App) -> None:
    """Make ``app`` build ``AtLeastOnceConsumer`` (call before the app's consumer exists)."""
    app.transport.Consumer = AtLeastOnceConsumer
