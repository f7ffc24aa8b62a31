"""Date ranges, time windows and intervals of the analytics queries (UTC).

A date range is ``[first_day, last_day]`` (ISO dates, both included) or a shortcut: ``today``,
``Nd`` (the last N days, today included: ``7d``, ``30d``), ``month`` (this calendar month so far),
``Nmo`` (the last N calendar months, this one included), ``year``. It becomes a half-open span
``[start, end)`` of UTC instants; SQL compares ``timestamp`` with its epoch milliseconds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline.query.invalid import InvalidQuery

MAX_DAYS = 3660  # ten years: a range longer than that is a mistake
_DAYS = re.compile(r"^(\d{1,4})d$")
_MONTHS = re.compile(r"^(\d{1,3})mo$")
_WINDOW = re.compile(r"^(\d{1,7})\s*(ms|s|m|h|d|w)?$")
WINDOW_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                   "w": 604_800_000}  # fmt: skip
INTERVALS = ("day", "week", "month")
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2299, 12, 30)


@dataclass(frozen=True, slots=True)
class Span:
    """The days ``first``..``last`` (both included) as UTC instants ``[start, end)``."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=(self.last - self.first).days + 1)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def json(self) -> list[str]:
        return [self.first.isoformat(), self.last.isoformat()]


def _moment(text: str) -> datetime:
    """An ISO datetime, in UTC (naive means UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment


def parse_day(value: Any, field: str) -> date:
    """An ISO date (a datetime's date part is taken) from 1970 to 2299, ClickHouse's range."""
    if not isinstance(value, str):
        raise InvalidQuery(field, "must be an ISO date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value) if len(value) == 10 else _moment(value).date()
    except ValueError:
        raise InvalidQuery(field, f"not an ISO date (YYYY-MM-DD): {value[:40]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidQuery(field, "must be between 1970-01-01 and 2299-12-30")
    return day


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def parse_range(value: Any, today: date | None = None, field: str = "date_range") -> Span:
    """A date range (see the module doc) -> ``Span``; ``InvalidQuery`` naming ``field``."""
    today = today or datetime.now(UTC).date()
    if isinstance(value, str) and "," in value:  # a query string: first,last
        value = value.split(",")
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise InvalidQuery(field, "must be [first_day, last_day] or a shortcut like 30d")
        first, last = parse_day(value[0], f"{field}.0"), parse_day(value[1], f"{field}.1")
        if last < first:
            raise InvalidQuery(field, "the last day is before the first")
        span = Span(first, last)
    elif isinstance(value, str):
        span = _shortcut(value.strip().lower(), today, field)
    else:
        raise InvalidQuery(field, "must be [first_day, last_day] or a shortcut like 30d")
    if (span.last - span.first).days >= MAX_DAYS:
        raise InvalidQuery(field, f"covers more than {MAX_DAYS} days")
    return span


def _shortcut(text: str, today: date, field: str) -> Span:
    if text in ("day", "today"):
        return Span(today, today)
    if text == "month":
        return Span(today.replace(day=1), today)
    if text == "year":
        return Span(today.replace(month=1, day=1), today)
    if days := _DAYS.match(text):
        count = int(days[1])
        if count < 1:
            raise InvalidQuery(field, "a range needs at least one day")
        return Span(today - timedelta(days=count - 1), today)
    if months := _MONTHS.match(text):
        count = int(months[1])
        if count < 1:
            raise InvalidQuery(field, "a range needs at least one month")
        return Span(_months_back(today, count - 1), today)
    raise InvalidQuery(
        field, f"unknown shortcut {text!r} (today, 7d, 30d, month, 6mo, year or [first, last])"
    )


def parse_window(value: Any, field: str = "window") -> int:
    """A conversion window -> milliseconds: seconds as a number, or ``30m``, ``1h``, ``2d``..."""
    if isinstance(value, bool):
        raise InvalidQuery(field, "must be seconds or a duration like 1h")
    if isinstance(value, int | float):
        millis = int(value * 1000)
    elif isinstance(value, str) and (match := _WINDOW.match(value.strip().lower())):
        millis = int(match[1]) * WINDOW_UNITS_MS[match[2] or "s"]
    else:
        raise InvalidQuery(field, "must be seconds or a duration like 30m, 1h, 7d")
    if not 1000 <= millis <= 366 * WINDOW_UNITS_MS["d"]:
        raise InvalidQuery(field, "must be between 1 second and 366 days")
    return millis


def parse_interval(value: Any, field: str = "interval") -> str:
    if not isinstance(value, str) or value not in INTERVALS:
        raise InvalidQuery(field, f"must be one of {', '.join(INTERVALS)}")
    return str(value)


def bucket_start(day: date, interval: str) -> date:
    """The first day of ``day``'s bucket (weeks start on Monday, as ``toMonday``)."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def buckets(span: Span, interval: str) -> Iterator[date]:
    """Every bucket that overlaps the span, in order (the first may start before it)."""
    current = bucket_start(span.first, interval)
    while current <= span.last:
        yield current
        if interval == "month":
            current = _months_back(current, -1)
        else:
            current += timedelta(days=7 if interval == "week" else 1)


BUCKET_SQL = {"day": "toDate({t})", "week": "toMonday({t})", "month": "toStartOfMonth({t})"}
