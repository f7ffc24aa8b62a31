"""Faust's Kafka consumer without the two shortcuts that lose messages around a rebalance.

Found by the two-worker test (``tests/integration/test_worker_group.py``) with Faust's dev
log: after a partition came back, records fetched before the seek to the committed offset were
delivered first; Faust's consumer then

1. dropped every later record below the highest offset it had read ("DROPPED MESSAGE ROFF"),
   and counted the offsets it had jumped over as a gap that needs no ack; and
2. committed over an unacknowledged record at the head of the partition when it was the only one
   missing (``_new_offset`` holds back only for head gaps of more than one offset;
   faust-streaming issue #606, fix proposed in pull request #707).

Records dropped that way were committed and never processed. Our topics have no gaps (no
compaction, no transactions) and every stage is idempotent (deterministic event ids,
ReplacingMergeTree, sessionize recognises re-deliveries), so the safe behaviour is simpler:
deliver every record fetched — a re-delivery is processed again and collapses downstream — and
never commit past an offset that was not acknowledged.

That alone turns a record dropped in flight into a stalled partition instead of a lost one: the
kill -9 test caught one (about one run in ten under load; a worker restarted while the dead
one's session was still open): every later record of the partition was stored, the one at the
committed offset never arrived, and the commit waited for it for good. So the consumer also
watches for that: when the record at a partition's committed offset has been missing for
``LOST_HEAD_SECONDS`` while later ones were acknowledged, and no stream holds it, the partition
is sought back to the committed offset and fetched again.

A whole partition can stall too: after a kill -9 and a restart under load (about one run in
three of the Kafka test module beside another), the new worker was assigned every partition,
flow active, nothing paused, and fetched nothing more for good — no stream held a record, none
was acknowledged, the committed offsets stood still below the log end. Where it hangs inside
Faust's fetcher we did not find. So a partition whose log end is past its committed offset, with
no record delivered or acknowledged for ``STALLED_SECONDS``, is sought back to the committed
offset too; in the same runs that restarted the flow and every event was stored once.
"""

from __future__ import annotations

import time
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service

from pipeline import metrics

LOST_HEAD_SECONDS = 10.0
LOST_HEAD_CHECK_SECONDS = 5.0
STALLED_SECONDS = 20.0


class _NoReadOffsets(dict):
    """Faust's "highest offset read" per partition, with lookups that always answer ``None``:
    the fetch loop then neither drops records below it nor records gaps above it. Writes are
    kept (Faust sets them on seeks) but never read back."""

    def __getitem__(self, tp: Any) -> None:
        return None


class AtLeastOnceConsumer(faust_aiokafka.Consumer):
    """The aiokafka-driver consumer of Faust, delivering every fetched record and committing a
    partition only up to its first unacknowledged offset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _NoReadOffsets()
        self._head_missing_since: dict[TP, float] = {}
        self._stalled_since: dict[TP, tuple[int, float]] = {}

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None and min(acked) > committed:
            # the record at the committed offset is not processed yet
            self._head_missing_since.setdefault(tp, time.monotonic())
            return None
        self._head_missing_since.pop(tp, None)
        return super()._new_offset(tp)

    def lost_heads(self, now: float) -> dict[TP, int]:
        """Assigned partitions whose record at the committed offset has been missing for
        ``LOST_HEAD_SECONDS`` while later records were acknowledged, and that no stream holds
        (Faust tracks each record a stream took until it is acknowledged): committed offsets."""
        held = {(message.tp, message.offset) for message in list(self._unacked_messages)}
        assigned = self.assignment()
        lost: dict[TP, int] = {}
        for tp, since in list(self._head_missing_since.items()):
            committed = self._committed_offset[tp]
            if tp not in assigned or committed is None:
                self._head_missing_since.pop(tp, None)
            elif now - since >= LOST_HEAD_SECONDS and (tp, committed) not in held:
                lost[tp] = committed
        return lost

    def stalled(self, ends: dict[TP, int], now: float) -> dict[TP, int]:
        """Partitions with records past the committed offset (``ends``: log end offsets) of
        which none was delivered or acknowledged for ``STALLED_SECONDS`` while the committed
        offset stood still: committed offsets. (Seen after a restart under load: the worker
        was assigned everything and fetched nothing more, with no stream holding a record.)"""
        held = {message.tp for message in list(self._unacked_messages)}
        stalled: dict[TP, int] = {}
        for tp, end in ends.items():
            committed = self._committed_offset[tp]
            if committed is None or end <= committed or tp in held or self._acked[tp]:
                self._stalled_since.pop(tp, None)
                continue
            offset, since = self._stalled_since.setdefault(tp, (committed, now))
            if offset != committed:
                self._stalled_since[tp] = (committed, now)
            elif now - since >= STALLED_SECONDS:
                stalled[tp] = committed
        return stalled

    @Service.timer(LOST_HEAD_CHECK_SECONDS)
    async def _watch_lost_heads(self) -> None:
        for tp in await self.fetch_lost_heads_again():
            metrics.RECORDS_FETCHED_AGAIN.labels(tp.topic, str(tp.partition)).inc()
        for tp in await self.fetch_stalled_again():
            metrics.RECORDS_FETCHED_AGAIN.labels(tp.topic, str(tp.partition)).inc()

    async def fetch_stalled_again(self) -> dict[TP, int]:
        """Seek every partition of ``stalled`` back to its committed offset."""
        if not self.flow_active:
            return {}
        watched = [tp for tp in self.assignment() if self._committed_offset.get(tp) is not None]
        if not watched:
            return {}
        try:
            ends = dict(await self.highwaters(*watched))
        except Exception as exc:  # the broker is away: nothing to judge by
            self.log.info("Could not read end offsets: %r", exc)
            return {}
        stalled = self.stalled(ends, time.monotonic())
        for tp, offset in stalled.items():
            self.log.warning("Partition %r stalled at %r: fetching it again", tp, offset)
            await self.seek(tp, offset)
            self._stalled_since.pop(tp, None)
        return stalled

    async def fetch_lost_heads_again(self) -> dict[TP, int]:
        """Seek every partition of ``lost_heads`` back to its committed offset (the records
        after it come again too, and collapse downstream). Returns what was sought."""
        if not self.flow_active:  # a rebalance seeks to the committed offsets anyway
            return {}
        lost = self.lost_heads(time.monotonic())
        for tp, offset in lost.items():
            self.log.warning("Record %r@%r never arrived: fetching it again", tp, offset)
            await self.seek(tp, offset)
            self._head_missing_since.pop(tp, None)
        return lost


def use_at_least_once_consumer(app: faust.App) -> None:
    """Make ``app`` build ``AtLeastOnceConsumer`` (call before the app's consumer exists)."""
    app.transport.Consumer = AtLeastOnceConsumer
