"""Funnels (``POST /v1/funnels``): how many people did step 1, then step 2 within the window,
and so on, with ClickHouse's ``windowFunnel`` per person.

Rules (docs/analytics-api.md): steps are ordered; other events may happen between them; each step
is strictly later than the previous one (``strict_increase``, to the millisecond); step k's event
is at most ``window`` after step 1's; only events in the date range count; one event may match
several steps but serves as one step of a chain. With a breakdown, a person is
counted under the dimension's value on their first step-1 event in the range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.query import conditions
from pipeline.query.conditions import Params
from pipeline.query.invalid import InvalidQuery
from pipeline.query.periods import Span, parse_range, parse_window
from pipeline.query.resolved import COUNTING, base_parameters, hashed_source

MAX_STEPS = 10
# One row per (event, step it matches), at ``ms * SLOTS + (SLOTS - 1 - step)``: an event that
# matches several steps is offered to the later step first, and cannot serve as two steps of
# one chain (strict_increase). ``windowFunnel`` alone offers it to step 1 first, which restarts
# the chain: with step 1 ``/**`` and step 2 ``/blog/*`` nobody would ever reach step 2.
SLOTS = 16
DEFAULT_WINDOW = "1d"
# The columns ``funnel_steps`` keeps (schemas/clickhouse/021), besides the ids' hashes.
STEP_COLUMNS = frozenset({"timestamp", "type", "event", "path", "is_bot"})
DEFAULT_RANGE = "30d"
BODY_KEYS = frozenset(
    {"steps", "window", "date_range", "breakdown", "breakdown_limit", "counting", "include_bots"}
)


@dataclass(frozen=True, slots=True)
class Funnel:
    names: list[str]
    sql: str
    parameters: dict[str, Any]
    span: Span
    window_ms: int
    counting: str
    breakdown: str | None


def parse(project_id: str, body: Any, database: str, today: date | None = None) -> Funnel:
    """A funnel request body -> its SQL; ``InvalidQuery`` names the field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidQuery("body", "must be a JSON object")
    unknown = set(body) - BODY_KEYS
    if unknown:
        raise InvalidQuery(sorted(unknown)[0], "unknown field")
    steps = body.get("steps")
    if not isinstance(steps, list) or not 2 <= len(steps) <= MAX_STEPS:
        raise InvalidQuery("steps", f"must be a list of 2 to {MAX_STEPS} steps")
    span = parse_range(body.get("date_range", DEFAULT_RANGE), today)
    window_ms = parse_window(body.get("window", DEFAULT_WINDOW))
    counting = body.get("counting", "users")
    if not isinstance(counting, str) or counting not in COUNTING:
        raise InvalidQuery("counting", "must be users or visitors")
    include_bots = conditions.flag(body.get("include_bots"), "include_bots")
    limit = conditions.bounded_int(body.get("breakdown_limit"), "breakdown_limit", 10, 1, 100)
    params = Params(base_parameters(project_id, span.start_ms, span.end_ms, include_bots))
    names, conds = [], []
    for index, step in enumerate(steps):
        name, cond = conditions.step_condition(step, f"steps.{index}", params)
        names.append(name)
        conds.append(cond)
    columns = {"timestamp", "type", "event", "path"}
    if any(step.get("filters") for step in steps):
        columns.add("properties")
    breakdown = body.get("breakdown")
    group, split = "", ""
    window = params.add("w", window_ms * SLOTS, "UInt64")
    millis = "toUnixTimestamp64Milli(timestamp)"
    if _exclusive(steps):  # no event matches two steps: the conditions go in as they are
        first, funnel_steps = conds[0], ", ".join(conds)
        rows = f"SELECT *, toUInt64({millis} * {SLOTS}) AS t"
    else:
        first = "step = 1"
        funnel_steps = ", ".join(f"step = {k}" for k in range(1, len(conds) + 1))
        matched = ", ".join(f"if({cond}, {k}, 0)" for k, cond in enumerate(conds, 1))
        rows = (
            f"SELECT *, arrayJoin(arrayFilter(k -> k > 0, [{matched}])) AS step, "
            f"toUInt64({millis} * {SLOTS} + {SLOTS - 1} - step) AS t"
        )
    if breakdown is not None:
        column, expression = conditions.dimension(breakdown, "breakdown", params)
        columns.add(column)
        group = f"argMinIf({expression}, t, {first}) AS value, "
        split = "value, "
    levels = ", ".join(f"countIf(level >= {k})" for k in range(1, len(conds) + 1))
    people = counting == "users"
    # the sorted copy of the step columns serves a funnel that needs no other column
    copied = columns <= STEP_COLUMNS
    events = hashed_source(
        database, sorted(columns), [_any_step(conds)], people=people, steps=copied
    )
    inner = (
        f"SELECT who, {group}"
        f"windowFunnel({window}, 'strict_increase')(t, {funnel_steps}) AS level "
        f"FROM ({rows} FROM {events}) "
        "GROUP BY who"
    )
    order = f" ORDER BY countIf(level >= 1) DESC, value LIMIT {limit}" if split else ""
    sql = (
        f"SELECT {split}{levels} FROM ({inner}) WHERE level > 0"
        f"{' GROUP BY value' if split else ''}{order}"
    )
    return Funnel(names, sql, params.values, span, window_ms, counting, breakdown)


def _exclusive(steps: list[dict[str, Any]]) -> bool:
    """True when no event can match two steps: every step names an event, each a different
    one, none a page event's name (pages are ``pageview`` events)."""
    names = [step.get("event") for step in steps]
    return None not in names and len(set(names)) == len(names) and "pageview" not in names


def _any_step(conds: list[str]) -> str:
    """Only rows that match a step reach the aggregation (filtered inside ``source``)."""
    return "(" + " OR ".join(conds) + ")"


def step_rows(names: list[str], reached: list[int]) -> list[dict[str, Any]]:
    """Counts per step -> each step's count, conversion from the first and from the previous
    step (percent, 2 decimals) and drop-off from the previous step."""
    rows = []
    for index, (name, count) in enumerate(zip(names, reached, strict=True)):
        previous = reached[index - 1] if index else count
        rows.append(
            {
                "step": index + 1,
                "name": name,
                "count": count,
                "conversion_rate": percent(count, reached[0]),
                "conversion_rate_step": percent(count, previous),
                "dropoff": previous - count,
                "dropoff_rate": round(100.0 - percent(count, previous), 2) if previous else 0.0,
            }
        )
    return rows


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def answer(funnel: Funnel, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The query's rows -> the JSON answer."""
    body: dict[str, Any] = {
        "date_range": funnel.span.json(),
        "window_seconds": funnel.window_ms / 1000,
        "counting": funnel.counting,
    }
    if funnel.breakdown is None:
        reached = [int(n) for n in rows[0]] if rows else [0] * len(funnel.names)
        body["steps"] = step_rows(funnel.names, reached)
        return body
    body["breakdown"] = funnel.breakdown
    body["results"] = [
        {"value": row[0], "steps": step_rows(funnel.names, [int(n) for n in row[1:]])}
        for row in rows
    ]
    return body
