"""Date ranges, windows and intervals of the analytics queries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.query.invalid import InvalidQuery
from pipeline.query.periods import Span, buckets, parse_interval, parse_range, parse_window

TODAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("today", TODAY, TODAY),
        ("day", TODAY, TODAY),
        ("7d", date(2026, 11, 29), TODAY),
        ("30d", date(2026, 11, 6), TODAY),
        ("month", date(2026, 12, 1), TODAY),
        ("6mo", date(2026, 7, 1), TODAY),
        ("12mo", date(2026, 1, 1), TODAY),
        ("year", date(2026, 1, 1), TODAY),
        (["2026-11-01", "2026-11-30"], date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-11-01,2026-11-30", date(2026, 11, 1), date(2026, 11, 30)),
        (["2026-11-01T00:00:00Z", "2026-11-02"], date(2026, 11, 1), date(2026, 11, 2)),
    ],
)
def test_ranges(value, first, last):
    assert parse_range(value, TODAY) == Span(first, last)


def test_a_span_is_half_open_in_utc_milliseconds():
    span = Span(date(2026, 11, 1), date(2026, 11, 2))
    assert span.start_ms == 1_793_491_200_000
    assert span.end_ms - span.start_ms == 2 * 86_400_000
    assert span.json() == ["2026-11-01", "2026-11-02"]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("fortnight", "date_range"),
        ("0d", "date_range"),
        (["2026-11-02"], "date_range"),
        (["2026-11-02", "2026-11-01"], "date_range"),
        (["2026-11-02", "soon"], "date_range.1"),
        ([1, "2026-11-01"], "date_range.0"),
        (["2000-01-01", "2026-01-01"], "date_range"),
        (42, "date_range"),
    ],
)
def test_bad_ranges_name_the_field(value, field):
    with pytest.raises(InvalidQuery) as caught:
        parse_range(value, TODAY)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("value", "millis"),
    [(60, 60_000), (1.5, 1500), ("90", 90_000), ("30m", 1_800_000), ("1h", 3_600_000),
     ("2d", 172_800_000), ("1w", 604_800_000), ("1500ms", 1500)],
)  # fmt: skip
def test_windows(value, millis):
    assert parse_window(value) == millis


@pytest.mark.parametrize("value", ["soon", "", 0, 0.5, True, None, "400d", [1], "-1h"])
def test_bad_windows(value):
    with pytest.raises(InvalidQuery) as caught:
        parse_window(value)
    assert caught.value.field == "window"


def test_intervals():
    assert parse_interval("week") == "week"
    with pytest.raises(InvalidQuery):
        parse_interval("hour")


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(0, 400),
    st.sampled_from(["day", "week", "month"]),
)
def test_buckets_cover_the_span_in_order(first, length, interval):
    span = Span(first, first + timedelta(days=length))
    starts = list(buckets(span, interval))
    assert starts == sorted(set(starts))
    assert starts[0] <= span.first and starts[-1] <= span.last
    day, covered = span.first, set()
    while day <= span.last:  # every day of the span lies in exactly one listed bucket
        owner = max(s for s in starts if s <= day)
        covered.add(owner)
        if interval == "week":
            assert owner.weekday() == 0 and (day - owner).days < 7
        elif interval == "month":
            assert owner == day.replace(day=1)
        else:
            assert owner == day
        day += timedelta(days=1)
    assert covered == set(starts)
