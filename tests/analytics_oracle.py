"""Plain-Python reference computations of the analytics answers (funnels, retention, revenue,
user profiles) over the events of ``tests/analytics_data.py`` — written from the definitions in
docs/analytics-api.md, not from the SQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.analytics_data import Event

DAY_MS = 86_400_000


def links(events: list[Event]) -> dict[str, str]:
    """visitor -> the user it was first linked to (an event with both ids, not provisional)."""
    found: dict[str, tuple[int, str]] = {}
    for e in events:
        linking = e.user_id and e.user_id != e.visitor_id
        if linking and (e.visitor_id not in found or e.timestamp < found[e.visitor_id][0]):
            found[e.visitor_id] = (e.timestamp, e.user_id)
    return {visitor: user for visitor, (_, user) in found.items()}


def resolved_user(e: Event, linked: dict[str, str]) -> str:
    if e.user_id and (e.user_id != e.visitor_id or e.visitor_id not in linked):
        return e.user_id
    return linked.get(e.visitor_id, "")


def who(e: Event, linked: dict[str, str], counting: str = "users") -> str:
    if counting == "visitors":
        return e.visitor_id or f"user:{e.user_id}"
    return resolved_user(e, linked) or e.visitor_id


def day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def in_range(e: Event, first: date, last: date, bots: bool) -> bool:
    return day_ms(first) <= e.timestamp < day_ms(last) + DAY_MS and (bots or not e.is_bot)


# --- funnels -----------------------------------------------------------------------------------


def page_matches(pattern: str, path: str) -> bool:
    """``**`` any characters, ``*`` any but ``/``, the rest literal (a recursive matcher)."""
    if not pattern:
        return not path
    if pattern.startswith("**"):
        return any(page_matches(pattern[2:], path[i:]) for i in range(len(path) + 1))
    if pattern[0] == "*":
        stop = path.find("/")
        reach = len(path) if stop < 0 else stop
        return any(page_matches(pattern[1:], path[i:]) for i in range(reach + 1))
    return bool(path) and path[0] == pattern[0] and page_matches(pattern[1:], path[1:])


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return type(actual) is type(wanted) and actual == wanted
    if isinstance(wanted, int | float):
        return isinstance(actual, int | float) and float(actual) == float(wanted)
    return isinstance(actual, str) and actual == wanted


def step_matches(step: dict[str, Any], e: Event) -> bool:
    if "event" in step:
        ok = e.event == step["event"]
    else:
        ok = e.type == "page" and page_matches(step["page"], e.path)
    props = e.properties
    return ok and all(k in props and _same(props[k], v) for k, v in step.get("filters", {}).items())


def funnel_level(hits: list[list[int]], window_ms: int) -> int:
    """The most steps done in order, each strictly after the previous, all within the window
    of the first (``hits[i]``: times of step i's events)."""
    best = 0
    for start in hits[0]:
        level, current = 1, start
        for times in hits[1:]:
            later = [t for t in times if current < t <= start + window_ms]
            if not later:
                break
            current, level = min(later), level + 1
        best = max(best, level)
    return best


def funnel(
    events: list[Event],
    steps: list[dict[str, Any]],
    window_ms: int,
    first: date,
    last: date,
    counting: str = "users",
    breakdown: str | None = None,
    bots: bool = False,
    limit: int = 10,
) -> list[tuple[str | None, list[int]]]:
    """(breakdown value or None, people reaching each step) for each group, as answered."""
    linked = links(events)
    hits: dict[str, list[list[int]]] = defaultdict(lambda: [[] for _ in steps])
    value: dict[str, tuple[int, str]] = {}
    for e in events:
        if not in_range(e, first, last, bots):
            continue
        person = who(e, linked, counting)
        for index, step in enumerate(steps):
            if step_matches(step, e):
                hits[person][index].append(e.timestamp)
                if index == 0 and (person not in value or e.timestamp < value[person][0]):
                    value[person] = (e.timestamp, getattr(e, breakdown) if breakdown else "")
    groups: dict[str | None, list[int]] = defaultdict(lambda: [0] * len(steps))
    for person, times in hits.items():
        level = funnel_level(times, window_ms)
        key = value[person][1] if breakdown and level else None
        for k in range(level):
            groups[key][k] += 1
    if not breakdown:
        return [(None, groups[None])]
    ranked = sorted(groups.items(), key=lambda item: (-item[1][0], item[0]))
    return ranked[:limit]


# --- retention ---------------------------------------------------------------------------------


def _bucket(ms: int, period: str) -> date:
    day = datetime.fromtimestamp(ms / 1000, tz=UTC).date()
    return day - timedelta(days=day.weekday()) if period == "week" else day


def retention(
    events: list[Event],
    period: str,
    cohorts: int,
    end: date,
    first_event: str | None = None,
    returning_event: str | None = None,
    counting: str = "users",
    bots: bool = False,
) -> list[tuple[date, list[int]]]:
    """(cohort start, [size, returned 1 period later, …]) for each cohort, oldest first."""
    linked = links(events)
    step = 7 if period == "week" else 1
    last_cohort = end - timedelta(days=end.weekday()) if period == "week" else end
    starts = [last_cohort - timedelta(days=step * i) for i in reversed(range(cohorts))]
    end_ms = day_ms(end) + DAY_MS
    first_seen: dict[str, int] = {}
    returns: dict[str, set[date]] = defaultdict(set)
    for e in events:
        if e.timestamp >= end_ms or (e.is_bot and not bots):
            continue
        person = who(e, linked, counting)
        if first_event is None or e.event == first_event:
            first_seen[person] = min(first_seen.get(person, e.timestamp), e.timestamp)
        if (returning_event is None or e.event == returning_event) and e.timestamp >= day_ms(
            starts[0]
        ):
            returns[person].add(_bucket(e.timestamp, period))
    table = {start: [0] * (cohorts - i) for i, start in enumerate(starts)}
    for person, seen in first_seen.items():
        cohort = _bucket(seen, period)
        if cohort not in table:
            continue
        row = table[cohort]
        row[0] += 1
        for back in returns[person]:
            k = (back - cohort).days // step
            if 1 <= k < len(row):
                row[k] += 1
    return [(start, table[start]) for start in starts]


# --- revenue -----------------------------------------------------------------------------------

CYCLES = {"month": "month", "monthly": "month", "year": "year", "yearly": "year",
          "annual": "year", "annually": "year", "week": "week", "weekly": "week"}  # fmt: skip
PER_MONTH = {"month": 1.0, "year": 1 / 12, "week": 52 / 12}


def paid_until(paid: datetime, cycle: str) -> datetime:
    """One cycle after ``paid``: calendar months/years (a missing day is the month's last)."""
    if cycle == "week":
        return paid + timedelta(weeks=1)
    months = paid.year * 12 + paid.month - 1 + (1 if cycle == "month" else 12)
    year, month = divmod(months, 12)
    following = date(year + (month == 11), (month + 1) % 12 + 1, 1)
    last_day = (following - timedelta(days=1)).day
    return paid.replace(year=year, month=month + 1, day=min(paid.day, last_day))


def revenue(events: list[Event], first: date, last: date, bots: bool = False) -> dict[str, Any]:
    """currency -> total, events, payers, per event {name: (total, n)}, mrr, subscriptions."""
    linked = links(events)

    def entry() -> dict[str, Any]:
        return {"total": 0.0, "events": 0, "payers": set(), "by_event": defaultdict(list),
                "mrr": 0.0, "subscriptions": 0, "subscribers": set()}  # fmt: skip

    out: dict[str, Any] = defaultdict(entry)
    for e in events:
        if e.revenue_amount is not None and in_range(e, first, last, bots):
            entry = out[e.revenue_currency]
            entry["total"] += e.revenue_amount
            entry["events"] += 1
            entry["payers"].add(who(e, linked))
            entry["by_event"][e.event].append(e.revenue_amount)
    end_ms = day_ms(last) + DAY_MS
    charges: dict[tuple[str, str], Event] = {}
    cancelled: dict[tuple[str, str], int] = {}
    for e in events:
        if e.timestamp >= end_ms or (e.is_bot and not bots):
            continue
        key = (who(e, linked), e.product_id)
        cycle = CYCLES.get(str(e.properties.get("interval", "")).lower())
        latest = key not in charges or e.timestamp > charges[key].timestamp
        if e.revenue_amount is not None and cycle and latest:
            charges[key] = e
        if e.event in ("subscription_cancelled", "subscription_canceled"):
            cancelled[key] = max(cancelled.get(key, 0), e.timestamp)
    end = datetime.fromtimestamp(end_ms / 1000, tz=UTC)
    for key, charge in charges.items():
        if cancelled.get(key, 0) > charge.timestamp:
            continue
        cycle = CYCLES[str(charge.properties["interval"]).lower()]
        paid = datetime.fromtimestamp(charge.timestamp / 1000, tz=UTC)
        if paid_until(paid, cycle) > end:
            entry = out[charge.revenue_currency]
            entry["mrr"] += charge.revenue_amount * PER_MONTH[cycle]
            entry["subscriptions"] += 1
            entry["subscribers"].add(key[0])
    return dict(out)


# --- user profiles -----------------------------------------------------------------------------


def profile(events: list[Event], user: str) -> dict[str, Any]:
    """What ``GET /v1/users/{user}`` must say about counts, seen times and attribution."""
    linked = links(events)
    mine = [e for e in events if resolved_user(e, linked) == user]
    visitors = sorted({v for v, u in linked.items() if u == user})
    touch = min((e for e in events if e.visitor_id in visitors), key=lambda e: e.timestamp)
    identifies = [e for e in mine if e.type == "identify" and e.traits and e.user_id == user]
    money: dict[str, list[float]] = defaultdict(list)
    for e in mine:
        if e.revenue_amount is not None:
            money[e.revenue_currency].append(e.revenue_amount)
    return {
        "events": len(mine),
        "pageviews": sum(e.type == "page" for e in mine),
        "sessions": len({e.session_id for e in mine}),
        "first_seen": min(e.timestamp for e in mine),
        "last_seen": max(e.timestamp for e in mine),
        "visitors": sorted({e.visitor_id for e in mine}),
        "landing_path": touch.path,
        "utm_source": touch.utm_source,
        "traits": max(identifies, key=lambda e: e.timestamp).traits if identifies else {},
        "revenue": {c: (sum(v), len(v)) for c, v in money.items()},
        "recent": [e.timestamp for e in sorted(mine, key=lambda e: -e.timestamp)],
    }
