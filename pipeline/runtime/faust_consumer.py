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
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


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

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None and min(acked) > committed:
            return None  # the record at the committed offset is not processed yet
        return super()._new_offset(tp)


def use_at_least_once_consumer(app: faust.App) -> None:
    """Make ``app`` build ``AtLeastOnceConsumer`` (call before the app's consumer exists)."""
    app.transport.Consumer = AtLeastOnceConsumer
