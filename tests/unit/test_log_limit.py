"""Repeated warnings and errors are rate-limited and summarised (issue 16's log storm)."""

from __future__ import annotations

import io
import logging
import time

import pytest
import structlog

from pipeline.log_config import RepeatFilter, RepeatLimiter, limit_repeats


def test_one_record_a_window_per_key_then_a_count_of_the_rest():
    limiter = RepeatLimiter(window=10)
    assert limiter.admit("a", now=0.0) == 0
    assert [limiter.admit("a", now=t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert limiter.admit("b", now=5.0) == 0  # another message is not held back
    assert limiter.admit("a", now=10.0) == 3
    assert limiter.admit("a", now=11.0) is None


def test_the_stdlib_filter_drops_repeats_of_a_template_and_summarises_them():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RepeatFilter(RepeatLimiter(window=0.2)))
    logger = logging.getLogger("aiokafka.test_log_limit")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for attempt in range(1000):  # a broker away: the same error with other arguments
            logger.error("Unable connect to node with id %s: %s", 1, f"refused {attempt}")
        logger.info("not limited")
        logger.info("not limited")
        time.sleep(0.25)
        logger.error("Unable connect to node with id %s: %s", 1, "refused again")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "Unable connect to node with id 1: refused 0",
        "not limited",
        "not limited",
        "Unable connect to node with id 1: refused again [999 more like this in the last 0.2 s]",
    ]


def test_the_structlog_processor_drops_repeated_errors_and_counts_them():
    event = {"event": "kafka.publish_failed.test", "events": 10}
    assert limit_repeats(None, "error", dict(event)) == event
    for _ in range(5):
        with pytest.raises(structlog.DropEvent):
            limit_repeats(None, "error", dict(event))
    assert limit_repeats(None, "info", dict(event)) == event  # info is never limited
