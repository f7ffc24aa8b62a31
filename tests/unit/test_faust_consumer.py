"""The worker's Faust consumer never commits past an unacknowledged record."""

from __future__ import annotations

import asyncio

import faust
from faust.types import TP

from pipeline.runtime.faust_consumer import AtLeastOnceConsumer, use_at_least_once_consumer

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
