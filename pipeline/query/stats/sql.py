"""One stats query -> one ClickHouse SELECT.

Rows are the project's events of the range (``events`` FINAL: a re-delivered event counts
once; bots and ``identify`` calls left out), joined to their session (``sessions`` FINAL,
only the sessions that overlap the range) when a dimension, filter or metric needs it. The
primary key (project_id, day) and the timestamp skip index bound what is read.

Without session metrics it is one GROUP BY over the rows; with them (``bounce_rate``,
``visit_duration``, ``views_per_visit``) rows are first grouped per (dimensions, session), then
per dimensions, so each visit counts once with its session's own figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.query.stats import dimensions, filters
from pipeline.query.stats.dates import Range
from pipeline.query.stats.dimensions import (
    SESSION_COLUMNS,
    SESSIONS_TABLE_DIMENSIONS,
    Context,
    derived_columns,
    goal_condition,
)
from pipeline.query.stats.request import SESSION_METRICS, filter_dimensions

# SQL-computed columns per metric (the rest derive from them in Python).
NEEDS = {
    "visitors": ("visitors",), "visits": ("visits",), "pageviews": ("pageviews",),
    "events": ("events",), "views_per_visit": ("views_per_visit",),
    "bounce_rate": ("bounce_rate",), "visit_duration": ("visit_duration",),
    "percentage": ("visitors",), "conversion_rate": ("visitors",),
    "group_conversion_rate": ("visitors",), "total_revenue": ("revenue_sum", "revenue_count"),
    "average_revenue": ("revenue_sum", "revenue_count"), "time_on_page": ("visitors",),
}  # fmt: skip
FLAT = {
    "visitors": "uniq(e.visitor_id)",
    "visits": "uniq(e.session_id)",
    "pageviews": "countIf(e.type = 'page')",
    "events": "count()",
}
NESTED_INNER = {
    "vid": "any(e.visitor_id)",
    "pv": "countIf(e.type = 'page')",
    "ev": "count()",
    "bounce": "any(s.is_bounce)",
    "duration": "any(s.duration_ms)",
    "session_pv": "any(s.pageviews)",
}
NESTED = {
    "visitors": "uniq(vid)",
    "visits": "count()",
    "pageviews": "sum(pv)",
    "events": "sum(ev)",
    "bounce_rate": "avg(bounce) * 100",
    "visit_duration": "avg(duration) / 1000",
    "views_per_visit": "avg(session_pv)",
    "revenue_sum": "sum(rs)",
    "revenue_count": "sum(rc)",
}
# Metrics over session rows (a visit that started in the range, with all its events);
# ``events`` is not among them: a session's count includes its ``identify`` calls.
SESSIONS = {
    "visitors": "uniq(s.visitor_id)",
    "visits": "count()",
    "pageviews": "sum(s.pageviews)",
    "bounce_rate": "avg(s.is_bounce) * 100",
    "visit_duration": "avg(s.duration_ms) / 1000",
    "views_per_visit": "avg(s.pageviews)",
}
# Metrics a duplicate row cannot change: ``uniq`` over ids counts a re-delivered event's second
# copy (same event_id, same visitor, session, page and time) once.
DUPLICATE_PROOF = frozenset({"visitors", "visits"})
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Visitors over whole UTC days, per page or in total, from the page_event_visitors_daily projection.
DAILY_VISITORS = "uniqCombined(15)(e.visitor_id)"  # as in schemas/clickhouse/019
# A session's source and channel derive from these columns alone.
ATTRIBUTION = "s.referrer_domain, s.utm_source, s.utm_medium, s.utm_campaign"
# metric -> (its partial per attribution group, how the groups combine)
PRE_GROUPED = {
    "visitors": ("uniqState(s.visitor_id)", "uniqMerge(s.part_visitors)"),
    "visits": ("count()", "sum(s.part_visits)"),
    "pageviews": ("sum(s.pageviews)", "sum(s.part_pageviews)"),
}
TIME_ON_PAGE = "avgIf(e.next_ms - toUnixTimestamp64Milli(e.timestamp), e.next_ms > 0) / 1000"


@dataclass(frozen=True, slots=True)
class Select:
    """What one SELECT asks: dimensions (already resolved: ``time`` -> a bucket), the
    SQL-computed columns, filters, and order/limit (None: every row)."""

    dimensions: tuple[str, ...]
    columns: tuple[str, ...]
    filters: tuple[Any, ...]
    order_by: tuple[tuple[str, str], ...] = ()
    limit: int | None = None
    offset: int = 0
    total_rows: bool = False
    revenue_currency: str = ""  # one currency (goal filters), or "" with event:goal per row
    time_on_page: bool = False  # rows: page views with the time until the visit's next one
    events_only: bool = False  # read events even if sessions would do (a divisor's query)


def columns_for(metrics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for m in metrics for c in NEEDS[m]))


def _dimension(name: str, ctx: Context) -> str:
    if name == "event:goal":
        return f"arrayJoin({dimensions.goal_names(ctx.goals, ctx.params)})"
    if name.startswith("time:"):
        return dimensions.time_bucket(name, ctx)
    return dimensions.shown(name, ctx)


def _in_range(ctx: Context, r: Range, hourly: bool = False, daily: bool = False) -> str:
    """The range's events; ``hourly``: compare the hour when both ends are whole hours (the
    same rows), which lets the engine answer from the ``page_event_visitors`` projection;
    ``daily`` (ends on UTC midnights, see ``by_day``): the UTC day, for
    ``page_event_visitors_daily``."""
    p = ctx.params
    start, end = _ms(r.start), _ms(r.end)
    moment = "e.timestamp"
    if daily:
        moment = "toStartOfDay(e.timestamp)"
    elif hourly and start % HOUR_MS == 0 and end % HOUR_MS == 0:
        moment = "toStartOfHour(e.timestamp)"
    return (
        f"e.project_id = {p.add(ctx.project_id)} "
        f"AND {moment} >= fromUnixTimestamp64Milli({p.add(start, 'Int64')}, 'UTC') "
        f"AND {moment} < fromUnixTimestamp64Milli({p.add(end, 'Int64')}, 'UTC') "
        "AND NOT e.is_bot AND e.type != 'identify'"
    )


def scope(ctx: Context, r: Range) -> str:
    """``FROM`` + ``WHERE`` of the range's events (a behavioural filter searches these)."""
    return f"{ctx.database}.events AS e FINAL WHERE {_in_range(ctx, r)}"


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def _sessions(ctx: Context, r: Range) -> str:
    """The sessions that overlap the range, with their source, joined to their events."""
    p = ctx.params
    return (
        f"ANY LEFT JOIN (SELECT session_id, {', '.join(SESSION_COLUMNS)}, "
        f"{derived_columns(ctx.database)} "
        f"FROM {ctx.database}.sessions AS s FINAL WHERE s.project_id = {p.add(ctx.project_id)} "
        f"AND s.end >= fromUnixTimestamp64Milli({p.add(_ms(r.start), 'Int64')}, 'UTC') "
        f"AND s.start < fromUnixTimestamp64Milli({p.add(_ms(r.end), 'Int64')}, 'UTC')"
        ") AS s ON s.session_id = e.session_id"
    )


def duplicate_proof(select: Select) -> bool:
    """Whether the events may be read without FINAL: only ``uniq`` metrics, so the copies of a
    re-delivered event (not yet merged away) count once anyway. Saves FINAL's merge of the
    range's parts, and lets the engine answer from the ``events`` aggregate projection."""
    return set(select.columns) <= DUPLICATE_PROOF and not select.time_on_page


def by_day(select: Select, r: Range) -> bool:
    """Whether the ``page_event_visitors_daily`` projection answers: only visitors, per page or
    in total, unfiltered or filtered by page or event name, over a range of whole UTC days (a
    project in UTC, or its comparison). Its ``uniqCombined(15)`` states merge ~2x cheaper than
    the hourly ``uniq`` ones, with ~0.6 % standard error (docs/stats-api.md, "Speed")."""
    return (
        select.columns == ("visitors",)
        and set(select.dimensions) <= {"event:page"}
        and all(_on_page_or_name(f) for f in select.filters)
        and not select.time_on_page
        and _ms(r.start) % DAY_MS == 0
        and _ms(r.end) % DAY_MS == 0
    )


def _on_page_or_name(node: Any) -> bool:
    """Whether a filter reads only the page and the event name (columns the projections of
    visitors per page hold), without a behavioural part (that reads the visit's other events)."""
    op = node[0]
    if op in ("and", "or"):
        return all(_on_page_or_name(child) for child in node[1])
    if op == "not":
        return _on_page_or_name(node[1])
    return op not in ("has_done", "has_not_done") and node[1] in ("event:page", "event:name")


def sessions_only(select: Select) -> bool:
    """Whether the sessions table alone answers (no event dimension, filter or metric): a
    visit then counts when it started in the range, with all its events."""
    wanted = set(select.dimensions) | filter_dimensions(select.filters)
    return (
        not select.events_only
        and set(select.columns) <= set(SESSIONS)
        and not select.time_on_page
        and wanted <= SESSIONS_TABLE_DIMENSIONS | dimensions.SESSION_DIMENSIONS
    )


def pre_grouped(select: Select) -> bool:
    """Whether a source/channel breakdown may group sessions by their attribution columns
    first (partial ``uniq`` states, counts, sums) and look the source up once per group
    rather than once per session: same figures, a few hundred lookups instead of millions."""
    return (
        not select.filters
        and bool(select.dimensions)
        and set(select.dimensions) <= {"visit:source", "visit:channel"}
        and set(select.columns) <= set(PRE_GROUPED)
    )


def _build_sessions(select: Select, ctx: Context, r: Range) -> str:
    p = ctx.params
    ctx.sessions_only = True
    sessions = (
        f"{ctx.database}.sessions AS s FINAL "
        f"WHERE s.project_id = {p.add(ctx.project_id)} "
        f"AND s.start >= fromUnixTimestamp64Milli({p.add(_ms(r.start), 'Int64')}, 'UTC') "
        f"AND s.start < fromUnixTimestamp64Milli({p.add(_ms(r.end), 'Int64')}, 'UTC') "
        "AND s.device_type != 'bot'"
    )
    if pre_grouped(select):
        inner = ", ".join(f"{PRE_GROUPED[c][0]} AS part_{c}" for c in select.columns)
        groups = f"(SELECT {ATTRIBUTION}, {inner} FROM {sessions} GROUP BY {ATTRIBUTION}) AS s"
        rows = f"(SELECT *, {derived_columns(ctx.database)} FROM {groups}) AS s"
        dims = [f"{_dimension(d, ctx)} AS d{i}" for i, d in enumerate(select.dimensions)]
        columns = [*dims, *(f"{PRE_GROUPED[c][1]} AS {c}" for c in select.columns)]
        return _finish(select, columns, rows)
    rows = f"(SELECT *, {derived_columns(ctx.database)} FROM {sessions}) AS s"
    conditions = [filters.condition(f, ctx, "") for f in select.filters]
    dims = [f"{_dimension(d, ctx)} AS d{i}" for i, d in enumerate(select.dimensions)]
    columns = [*dims, *(f"{SESSIONS[c]} AS {c}" for c in select.columns)]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return _finish(select, columns, rows + where)


def _finish(select: Select, columns: list[str], source: str) -> str:
    """GROUP BY, ORDER BY, LIMIT; with ``visit:channel``, GA4's long rule chain is evaluated
    whole rather than branch by branch (short-circuit evaluation made it 2-3x slower)."""
    keys = [f"d{i}" for i in range(len(select.dimensions))]
    if keys and select.total_rows:
        columns = [*columns, "count() OVER () AS total_rows"]
    sql = f"SELECT {', '.join(columns)} FROM {source}"
    if keys:
        sql += f" GROUP BY {', '.join(keys)} ORDER BY {_order(select, keys)}"
        if select.limit is not None:
            sql += f" LIMIT {int(select.limit)} OFFSET {int(select.offset)}"
    if "visit:channel" in set(select.dimensions) | filter_dimensions(select.filters):
        sql += " SETTINGS short_circuit_function_evaluation = 'disable'"
    return sql


def _revenue(ctx: Context, currency: str, goal_alias: str | None) -> tuple[str, str]:
    """Revenue of events completing a revenue goal, in that goal's currency."""
    revenue_goals = [g for g in ctx.goals if g.currency]
    if not revenue_goals:  # aggregates still: alone, a constant would make a row per event
        return "sumIf(toFloat64(0), 0)", "countIf(0)"
    completes = " OR ".join(goal_condition(g, ctx.params) for g in revenue_goals)
    if goal_alias:  # each row is one goal: its own currency
        names = ctx.params.add([g.display_name for g in revenue_goals], "Array(String)")
        units = ctx.params.add([g.currency for g in revenue_goals], "Array(String)")
        cur = f"transform({goal_alias}, {names}, {units}, '')"
    else:
        cur = ctx.params.add(currency)
    hit = f"(({completes}) AND e.revenue_amount IS NOT NULL AND e.revenue_currency = {cur})"
    return f"sumIf(ifNull(e.revenue_amount, 0), {hit})", f"countIf({hit})"


def build(select: Select, ctx: Context, r: Range) -> str:
    """The SELECT: dimension columns ``d0..``, metric columns by name, ``total_rows``."""
    if sessions_only(select):
        return _build_sessions(select, ctx, r)
    final = not duplicate_proof(select)
    daily = not final and by_day(select, r)
    conditions = [_in_range(ctx, r, hourly=not final, daily=daily)]
    conditions += [filters.condition(f, ctx, scope(ctx, r)) for f in select.filters]
    if "event:goal" in select.dimensions:  # an event that completes no goal makes no row
        conditions.append(dimensions.any_goal(ctx.goals, ctx.params))
    nested = bool(SESSION_METRICS & set(select.columns))
    join = (
        nested
        or any(dimensions.session_dimension(d) for d in select.dimensions)
        or filters.needs_session(select.filters)
    )
    dims = [f"{_dimension(d, ctx)} AS d{i}" for i, d in enumerate(select.dimensions)]
    keys = [f"d{i}" for i in range(len(select.dimensions))]
    goal_alias = (
        f"d{select.dimensions.index('event:goal')}" if "event:goal" in select.dimensions else None
    )
    revenue = "revenue_sum" in select.columns
    events = f"{ctx.database}.events AS e{' FINAL' if final else ''}"
    if select.time_on_page:
        events = (
            "(SELECT *, leadInFrame(toUnixTimestamp64Milli(timestamp)) OVER (PARTITION BY "
            "session_id ORDER BY timestamp ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_ms "
            f"FROM {ctx.database}.events AS e FINAL WHERE {_in_range(ctx, r)} "
            "AND e.type = 'page') AS e"
        )
    source = f"{events} {_sessions(ctx, r) if join else ''} WHERE {' AND '.join(conditions)}"
    if nested:
        inner = [*dims, "e.session_id AS sid", *(f"{v} AS {k}" for k, v in NESTED_INNER.items())]
        if revenue:
            rs, rc = _revenue(ctx, select.revenue_currency, goal_alias)
            inner += [f"{rs} AS rs", f"{rc} AS rc"]
        source = f"(SELECT {', '.join(inner)} FROM {source} GROUP BY {', '.join([*keys, 'sid'])})"
        columns = [*keys, *(f"{NESTED[c]} AS {c}" for c in select.columns)]
    else:
        flat = {**FLAT, "visitors": DAILY_VISITORS} if daily else FLAT
        columns = [*dims, *(f"{flat[c]} AS {c}" for c in select.columns if c in flat)]
        if select.time_on_page:
            columns.append(f"{TIME_ON_PAGE} AS time_on_page")
        if revenue:
            rs, rc = _revenue(ctx, select.revenue_currency, goal_alias)
            columns += [f"{rs} AS revenue_sum", f"{rc} AS revenue_count"]
    return _finish(select, columns, source)


def _order(select: Select, keys: list[str]) -> str:
    by_name = {d: f"d{i}" for i, d in enumerate(select.dimensions)}
    out = []
    for name, direction in select.order_by:
        column = by_name.get(name) or NEEDS.get(name, (name,))[0]
        if column in by_name.values() or column in select.columns:  # else sorted in Python
            out.append(f"{column} {direction.upper()}")
    out += [f"{k} ASC" for k in keys]  # ties: stable pages
    return ", ".join(out)
