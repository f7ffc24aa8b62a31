"""Retention (``GET /v1/retention``): people grouped by the day or week they were first seen
(their first event, or their first ``first_event``, over all their history), and how many of
each cohort came back (any event, or ``returning_event``) 1, 2, … periods later.

One pass over the project's active days up to the end (``resolved.person_days``, answered by the
``person_days`` projection of events): per person the first-seen day and the set of periods with
a returning event (``groupUniqArrayIf``), then a count per (cohort, offset). A day is enough:
cohorts and periods are whole UTC days or weeks, and the range starts and ends at midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pipeline.query import conditions
from pipeline.query.conditions import Params
from pipeline.query.invalid import InvalidQuery
from pipeline.query.periods import BUCKET_SQL, FIRST_DAY, Span, bucket_start, parse_day
from pipeline.query.resolved import COUNTING, START, base_parameters, person_days

PERIODS = {"day": 1, "week": 7}
MAX_COHORTS = {"day": 90, "week": 52}
QUERY_KEYS = frozenset(
    {"period", "cohorts", "returning_event", "first_event", "end", "counting", "include_bots"}
)


@dataclass(frozen=True, slots=True)
class Retention:
    period: str
    cohorts: int
    sql: str
    parameters: dict[str, Any]
    span: Span


def _event(value: Any, field: str, params: Params) -> str:
    if value is None or value == "":
        return "1"
    _name, sql = conditions.step_condition({"event": value}, field, params)
    return sql


def parse(project_id: str, query: Any, database: str, today: date) -> Retention:
    """Query parameters -> the retention SQL; ``InvalidQuery`` names the wrong parameter."""
    unknown = set(query) - QUERY_KEYS
    if unknown:
        raise InvalidQuery(sorted(unknown)[0], "unknown parameter")
    period = query.get("period", "week")
    if not isinstance(period, str) or period not in PERIODS:
        raise InvalidQuery("period", "must be day or week")
    count = conditions.bounded_int(query.get("cohorts"), "cohorts", 12, 1, MAX_COHORTS[period])
    counting = query.get("counting", "users")
    if not isinstance(counting, str) or counting not in COUNTING:
        raise InvalidQuery("counting", "must be users or visitors")
    include_bots = conditions.flag(query.get("include_bots"), "include_bots")
    end = parse_day(query["end"], "end") if query.get("end") else today
    last = bucket_start(end, period)
    if last - timedelta(days=PERIODS[period] * (count - 1)) < FIRST_DAY:
        raise InvalidQuery("end", "the cohorts would start before 1970")
    span = Span(last - timedelta(days=PERIODS[period] * (count - 1)), end)
    params = Params(base_parameters(project_id, span.start_ms, span.end_ms, include_bots))
    first = _event(query.get("first_event"), "first_event", params)
    back = _event(query.get("returning_event"), "returning_event", params)
    bucket = BUCKET_SQL[period].format(t="day")
    where = [] if "1" in (first, back) else [f"({first} OR {back})"]
    rows = person_days(
        database,
        where,
        events=(first, back) != ("1", "1"),
        people=counting == "users",
    )
    since = f"toDate({START})"
    people = (
        f"SELECT who, minIf(day, {first}) AS first_seen, "
        f"groupUniqArrayIf({bucket}, {back} AND day >= {since}) AS periods "
        f"FROM {rows} GROUP BY who HAVING first_seen >= {since}"
    )
    cohort = BUCKET_SQL[period].format(t="first_seen")
    sql = (
        "SELECT cohort, later, count() FROM ("
        f"SELECT {cohort} AS cohort, arrayJoin(arrayDistinct(arrayPushFront(periods, cohort))) "
        f"AS returned, intDiv(dateDiff('day', cohort, returned), {PERIODS[period]}) AS later "
        f"FROM ({people})) WHERE later >= 0 GROUP BY cohort, later"
    )
    return Retention(period, count, sql, params.values, span)


def answer(retention: Retention, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Rows (cohort, offset, people) -> cohorts with their size and returning counts and
    percentages for every period that has begun by the end (period 0 is the cohort itself)."""
    counts = {(cohort, int(offset)): int(n) for cohort, offset, n in rows}
    step = timedelta(days=PERIODS[retention.period])
    cohorts = []
    for index in range(retention.cohorts):
        start = retention.span.first + step * index
        size = counts.get((start, 0), 0)
        cohorts.append(
            {
                "cohort": start.isoformat(),
                "size": size,
                "returning": [
                    {
                        "period": k,
                        "count": counts.get((start, k), 0),
                        "percentage": round(100.0 * counts.get((start, k), 0) / size, 2)
                        if size
                        else 0.0,
                    }
                    for k in range(retention.cohorts - index)
                ],
            }
        )
    return {
        "period": retention.period,
        "date_range": retention.span.json(),
        "cohorts": cohorts,
    }
