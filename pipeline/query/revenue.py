"""Revenue (``GET /v1/revenue``): totals, averages, per event name and over time, per currency
(amounts are never converted), and for subscriptions MRR and ARPU.

A revenue event is any event with ``revenue_amount`` set (Kitbase's ``trackRevenue``, or the
native API's ``revenue_amount``/``revenue_currency``). A subscription charge is a revenue event
whose ``interval`` property is ``month``/``monthly``, ``year``/``yearly``/``annual`` or
``week``/``weekly``; a subscription is one person's charges of one ``product_id``; an event named
``subscription_cancelled`` (or ``subscription_canceled``) by the person with the same
``product_id`` cancels it. Definitions (docs/analytics-api.md):

- MRR at the end of the range: the sum over active subscriptions of their latest charge's amount
  normalised to a month (a year's / 12, a week's * 52 / 12). A subscription is active at instant
  T when its latest charge at or before T is less than one interval (calendar months or years,
  ``addMonths``/``addYears``; 7 days) before T and no cancellation came after that charge.
- ARPU: revenue in the range / people with at least one revenue event in the range.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.query import conditions
from pipeline.query.invalid import InvalidQuery
from pipeline.query.periods import BUCKET_SQL, Span, buckets, parse_interval, parse_range
from pipeline.query.resolved import END, base_parameters, source

CANCEL_EVENTS = ("subscription_cancelled", "subscription_canceled")
INTERVALS = {
    "month": ("month", "monthly"),
    "year": ("year", "yearly", "annual", "annually"),
    "week": ("week", "weekly"),
}
MONTHLY_FACTOR = {"month": 1.0, "year": 1 / 12, "week": 52 / 12}
QUERY_KEYS = frozenset({"date_range", "interval", "include_bots"})
HISTORY_DAYS = 367  # a year and a day: older charges cannot be active at the end


@dataclass(frozen=True, slots=True)
class Revenue:
    span: Span
    interval: str
    sums: str  # currency, event, bucket -> sum, count
    payers: str  # currency -> distinct people
    mrr: str  # currency -> MRR, active subscriptions, subscribers
    parameters: dict[str, Any]


def _interval_sql() -> str:
    """The ``interval`` property, normalised to month/year/week ('' when not a subscription)."""
    raw = "lower(JSONExtractString(properties, 'interval'))"
    arms = ", ".join(
        f"{raw} IN ({', '.join(repr(v) for v in values)}), '{name}'"
        for name, values in INTERVALS.items()
    )
    return f"multiIf({arms}, '')"


def parse(project_id: str, query: Any, database: str, today: date | None = None) -> Revenue:
    unknown = set(query) - QUERY_KEYS
    if unknown:
        raise InvalidQuery(sorted(unknown)[0], "unknown parameter")
    span = parse_range(query.get("date_range", "30d"), today)
    interval = parse_interval(query.get("interval", "day"))
    include_bots = conditions.flag(query.get("include_bots"), "include_bots")
    params = base_parameters(project_id, span.start_ms, span.end_ms, include_bots)
    # an active subscription was charged less than a year (the longest cycle) before the end
    params["charged_since"] = span.end_ms - HISTORY_DAYS * 86_400_000
    columns = ["timestamp", "event", "revenue_amount", "revenue_currency", "product_id"]
    paid = source(database, columns, ["e.revenue_amount IS NOT NULL"], once=True)
    bucket = BUCKET_SQL[interval].format(t="timestamp")
    sums = (
        f"SELECT revenue_currency, event, {bucket} AS bucket, sum(revenue_amount), count() "
        f"FROM {paid} GROUP BY revenue_currency, event, bucket"
    )
    payers = f"SELECT revenue_currency, uniqExact(person) FROM {paid} GROUP BY revenue_currency"
    cancels = ", ".join(f"'{name}'" for name in CANCEL_EVENTS)
    history = source(
        database,
        [*columns, "properties"],
        [
            "e.timestamp >= fromUnixTimestamp64Milli({charged_since:Int64}, 'UTC')",
            f"(e.revenue_amount IS NOT NULL OR e.event IN ({cancels}))",
        ],
        since=False,
        once=True,
    )
    marked = (
        f"SELECT *, {_interval_sql()} AS cycle, revenue_amount IS NOT NULL AND cycle != '' "
        f"AS charge, event IN ({cancels}) AS cancel FROM {history}"
    )
    subscriptions = (
        "SELECT person, product_id, argMaxIf(assumeNotNull(revenue_amount), timestamp, charge) "
        "AS amount, argMaxIf(revenue_currency, timestamp, charge) AS currency, "
        "argMaxIf(cycle, timestamp, charge) AS last_cycle, maxIf(timestamp, charge) AS charged, "
        "maxIf(timestamp, cancel) AS cancelled, countIf(charge) AS charges "
        f"FROM ({marked}) GROUP BY person, product_id "
        "HAVING charges > 0 AND cancelled <= charged"
    )
    factor = (
        "multiIf("
        + ", ".join(f"last_cycle = '{name}', {value!r}" for name, value in MONTHLY_FACTOR.items())
        + ", 0.0)"
    )
    paid_until = (
        "multiIf(last_cycle = 'month', addMonths(charged, 1), last_cycle = 'year', "
        "addYears(charged, 1), addWeeks(charged, 1))"
    )
    mrr = (
        f"SELECT currency, sum(amount * {factor}), count(), uniqExact(person) "
        f"FROM ({subscriptions}) WHERE {paid_until} > {END} GROUP BY currency"
    )
    return Revenue(span, interval, sums, payers, mrr, params)


def _money(value: float) -> float:
    return round(float(value), 6)


def answer(
    revenue: Revenue,
    sums: list[tuple[Any, ...]],
    payers: list[tuple[Any, ...]],
    mrr: list[tuple[Any, ...]],
) -> dict[str, Any]:
    """The three queries' rows -> one entry per currency (sorted by name)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    by_event: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    series: dict[str, dict[date, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for currency, event, bucket, amount, count in sums:
        for cell in (totals[currency], by_event[currency][event], series[currency][bucket]):
            cell[0] += amount
            cell[1] += count
    paying = {currency: int(n) for currency, n in payers}
    recurring = {currency: (amount, int(n), int(people)) for currency, amount, n, people in mrr}
    answers = []
    for currency in sorted(set(totals) | set(recurring)):
        total, count = totals.get(currency, (0.0, 0))
        people = paying.get(currency, 0)
        monthly, subscriptions, subscribers = recurring.get(currency, (0.0, 0, 0))
        answers.append(
            {
                "currency": currency,
                "total": _money(total),
                "events": int(count),
                "average": _money(total / count) if count else 0.0,
                "paying_users": people,
                "arpu": _money(total / people) if people else 0.0,
                "mrr": _money(monthly),
                "active_subscriptions": subscriptions,
                "subscribers": subscribers,
                "by_event": [
                    {
                        "event": event,
                        "total": _money(amount),
                        "events": int(n),
                        "average": _money(amount / n) if n else 0.0,
                    }
                    for event, (amount, n) in sorted(
                        by_event[currency].items(), key=lambda item: (-item[1][0], item[0])
                    )
                ],
                "series": [
                    {
                        "date": day.isoformat(),
                        "total": _money(series[currency][day][0]),
                        "events": int(series[currency][day][1]),
                    }
                    for day in buckets(revenue.span, revenue.interval)
                ],
            }
        )
    return {
        "date_range": revenue.span.json(),
        "interval": revenue.interval,
        "currencies": answers,
    }
