"""Date ranges in the project's time zone, comparison periods and time buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline.query.stats import dates
from pipeline.query.stats.request import QueryError

TODAY = date(2024, 3, 13)  # a Wednesday


@pytest.mark.parametrize(
    ("shortcut", "first", "last"),
    [
        ("day", date(2024, 3, 13), date(2024, 3, 13)),
        ("7d", date(2024, 3, 6), date(2024, 3, 12)),
        ("28d", date(2024, 2, 14), date(2024, 3, 12)),
        ("30d", date(2024, 2, 12), date(2024, 3, 12)),
        ("91d", date(2023, 12, 13), date(2024, 3, 12)),
        ("month", date(2024, 3, 1), date(2024, 3, 31)),
        ("6mo", date(2023, 10, 1), date(2024, 3, 31)),
        ("12mo", date(2023, 4, 1), date(2024, 3, 31)),
        ("year", date(2024, 1, 1), date(2024, 12, 31)),
    ],
)
def test_shortcuts(shortcut, first, last):
    r = dates.resolve(shortcut, "UTC", TODAY)
    assert (r.first, r.last) == (first, last)


def test_all_starts_on_the_first_event_day():
    r = dates.resolve("all", "UTC", TODAY, first_seen=date(2023, 5, 2))
    assert (r.first, r.last) == (date(2023, 5, 2), TODAY)


def test_days_are_the_time_zones():
    r = dates.resolve(("2024-03-30", "2024-03-31"), "Europe/Berlin")
    assert r.start == datetime(2024, 3, 29, 23, tzinfo=UTC)
    assert r.end == datetime(2024, 3, 31, 22, tzinfo=UTC)  # summer time began on the 31st
    assert r.echo == ["2024-03-30T00:00:00+01:00", "2024-03-31T23:59:59+02:00"]
    assert len(dates.labels("time:hour", r)) == 47


def test_date_times_are_inclusive_to_the_second():
    r = dates.resolve(("2024-01-01T12:00:00+02:00", "2024-01-01T15:59:59+02:00"), "UTC")
    assert (r.start, r.end) == (
        datetime(2024, 1, 1, 10, tzinfo=UTC),
        datetime(2024, 1, 1, 14, tzinfo=UTC),
    )
    assert dates.bucket_of("time", r) == "time:hour"


@pytest.mark.parametrize(
    "value", [("2024-01-02", "2024-01-01"), ("2024-13-01", "2024-12-01"), ("x", "2024-01-01T00:00")]
)
def test_bad_ranges(value):
    with pytest.raises(QueryError, match="Invalid date_range"):
        dates.resolve(value, "UTC")


def test_comparison_periods():
    r = dates.days(date(2021, 1, 7), date(2021, 1, 13), "UTC")
    previous = dates.comparison_range(r, "previous_period", None)
    assert (previous.first, previous.last) == (date(2020, 12, 31), date(2021, 1, 6))
    matched = dates.comparison_range(r, "previous_period", None, match_day_of_week=True)
    assert matched.first.weekday() == r.first.weekday() and matched.first <= previous.first
    year = dates.comparison_range(dates.days(date(2024, 2, 29), date(2024, 3, 1), "UTC"),
                                  "year_over_year", None)  # fmt: skip
    assert (year.first, year.last) == (date(2023, 2, 28), date(2023, 3, 1))
    custom = dates.comparison_range(r, "custom", ("2020-01-01", "2020-01-05"))
    assert (custom.first, custom.last) == (date(2020, 1, 1), date(2020, 1, 5))


def test_time_buckets_and_labels():
    month = dates.days(date(2024, 1, 3), date(2024, 1, 20), "UTC")
    assert dates.bucket_of("time", month) == "time:day"
    assert dates.bucket_of("time", dates.days(date(2024, 1, 1), date(2024, 6, 1), "UTC")) == (
        "time:month"
    )
    assert dates.labels("time:week", month) == ["2024-01-03", "2024-01-08", "2024-01-15"]
    assert dates.labels("time:month", month) == ["2024-01-01"]
    assert dates.labels("time:day", month)[:2] == ["2024-01-03", "2024-01-04"]
