"""Date ranges in the project's time zone: Plausible's shortcuts and ISO pairs -> an instant
range ``[start, end)`` in UTC, the time bucket a ``time`` dimension means, and the labels of
every bucket (``include.time_labels``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.query.stats.request import QueryError, show

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    timezone: str
    first: date  # first and last day, in the time zone
    last: date

    def shifted(self, start: datetime, end: datetime) -> Range:
        return span(start, end, self.timezone)

    @property
    def echo(self) -> list[str]:
        """As ``query.date_range`` answers it: inclusive ISO date-times with the offset."""
        zone = ZoneInfo(self.timezone)
        last = self.end.astimezone(zone) - timedelta(seconds=1)
        return [
            self.start.astimezone(zone).isoformat(timespec="seconds"),
            last.isoformat(timespec="seconds"),
        ]


def span(start: datetime, end: datetime, timezone: str) -> Range:
    zone = ZoneInfo(timezone)
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return Range(start, end, timezone, start.astimezone(zone).date(), last)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def days(first: date, last: date, timezone: str) -> Range:
    """Whole days ``first``..``last`` (inclusive) in the time zone."""
    zone = ZoneInfo(timezone)
    start = _midnight(first, zone).astimezone(UTC)
    end = _midnight(last + DAY, zone).astimezone(UTC)
    return Range(start, end, timezone, first, last)


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return _month_start(day, -1) - DAY


def _parse_instant(text: str, zone: ZoneInfo, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"Invalid date_range {what} {show(text)}: ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def resolve(
    value: str | tuple[str, str], timezone: str, today: date | None = None,
    first_seen: date | None = None, now: datetime | None = None,
) -> Range:  # fmt: skip
    """The range ``value`` means today (``today``, default: the current date in ``timezone``);
    ``all`` starts on the day of the project's first event (``first_seen``)."""
    try:
        return _resolve(value, timezone, today, first_seen, now)
    except OverflowError:
        raise QueryError(f"Invalid date_range {show(value)}: out of range") from None


def _resolve(value: str | tuple[str, str], timezone: str, today: date | None,
             first_seen: date | None, now: datetime | None) -> Range:  # fmt: skip
    zone = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    today = today or now.astimezone(zone).date()
    if isinstance(value, tuple):
        first_text, last_text = value
        shown = show(list(value))
        if len(first_text) == 10 and len(last_text) == 10:
            try:
                first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
            except ValueError:
                raise QueryError(f"Invalid date_range {shown}: ISO 8601 dates") from None
            if last < first:
                raise QueryError(f"Invalid date_range {shown}: it ends before it starts")
            return days(first, last, timezone)
        start = _parse_instant(first_text, zone, "start")
        end = _parse_instant(last_text, zone, "end")
        if end < start:
            raise QueryError(f"Invalid date_range {show(list(value))}: it ends before it starts")
        # the end is inclusive to the second, as Plausible reads "…T15:59:59"
        end = end + timedelta(seconds=1) if end.microsecond == 0 else end
        return span(start.astimezone(UTC), end.astimezone(UTC), timezone)
    if value == "24h":
        return span(now - DAY, now, timezone)
    counts = {"7d": 7, "28d": 28, "30d": 30, "91d": 91}
    if value == "day":
        return days(today, today, timezone)
    if value in counts:
        return days(today - timedelta(days=counts[value]), today - DAY, timezone)
    if value == "month":
        return days(_month_start(today), _month_end(today), timezone)
    if value in ("6mo", "12mo"):
        back = 5 if value == "6mo" else 11
        return days(_month_start(today, back), _month_end(today), timezone)
    if value == "year":
        return days(date(today.year, 1, 1), date(today.year, 12, 31), timezone)
    if value == "all":
        return days(min(first_seen or today, today), today, timezone)
    raise QueryError(f"#/date_range: Invalid date range {show(value)}")


def comparison_range(current: Range, mode: str, custom: tuple[str, str] | None,
                     match_day_of_week: bool = False) -> Range:  # fmt: skip
    """The period a comparison reads: the same length just before (``previous_period``), a
    year before (``year_over_year``), or the given dates (``custom``)."""
    try:
        return _comparison_range(current, mode, custom, match_day_of_week)
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, QueryError):
            raise
        raise QueryError("Invalid comparison: its period is out of range") from None


def _comparison_range(current: Range, mode: str, custom: tuple[str, str] | None,
                      match_day_of_week: bool) -> Range:  # fmt: skip
    if mode == "custom" and custom:
        return resolve(custom, current.timezone)
    if mode == "year_over_year":
        first, last = _year_back(current.first), _year_back(current.last)
        shift = current.start.astimezone(ZoneInfo(current.timezone))
        return _same_clock(current, first, last, shift)
    length = (current.last - current.first).days + 1
    first = current.first - timedelta(days=length)
    if match_day_of_week:
        while first.weekday() != current.first.weekday():
            first -= DAY
    last = first + timedelta(days=length - 1)
    return _same_clock(current, first, last, current.start.astimezone(ZoneInfo(current.timezone)))


def _same_clock(current: Range, first: date, last: date, local_start: datetime) -> Range:
    whole_days = local_start.time() == datetime.min.time()
    if whole_days:
        return days(first, last, current.timezone)
    delta = current.start.astimezone(ZoneInfo(current.timezone)).date() - first
    return span(current.start - delta, current.end - delta, current.timezone)


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def bucket_of(dimension: str, r: Range) -> str:
    """``time`` resolved as Plausible does: hours within a day, days within ~a month, then
    months."""
    if dimension != "time":
        return dimension
    length = (r.last - r.first).days + 1
    if length <= 1:
        return "time:hour"
    if length <= 40:
        return "time:day"
    return "time:month"


MAX_LABELS = 100_000
BUCKET_DAYS = {"time:hour": 1 / 24, "time:day": 1, "time:week": 7, "time:month": 28}


def labels(bucket: str, r: Range) -> list[str]:
    """Every bucket of the range, as the time dimension's values read."""
    if ((r.last - r.first).days + 1) / BUCKET_DAYS[bucket] > MAX_LABELS:
        raise QueryError(f"Invalid date_range: more than {MAX_LABELS} {bucket} buckets")
    if bucket == "time:hour":
        zone = ZoneInfo(r.timezone)
        out, moment = [], r.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        while moment < r.end:
            out.append(moment.strftime("%Y-%m-%d %H:00:00"))
            moment = (moment.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
        return list(dict.fromkeys(out))
    if bucket == "time:day":
        count = (r.last - r.first).days + 1
        return [(r.first + timedelta(days=i)).isoformat() for i in range(count)]
    if bucket == "time:week":
        out, day = [], r.first
        while day <= r.last:
            out.append(day.isoformat())
            day = day - timedelta(days=day.weekday()) + timedelta(days=7)
        return out
    out, day = [], _month_start(r.first)
    while day <= r.last:
        out.append(day.isoformat())
        day = _month_start(day, -1)
    return out
