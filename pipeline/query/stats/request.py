"""The body of ``POST /api/v2/query`` (Plausible's Stats API v2), checked into a ``StatsQuery``.

A bad body raises ``QueryError``: Plausible answers ``400 {"error": "<where>: <why>"}`` with a
JSON-pointer-like path (``#/metrics/0``) naming the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

METRICS = (
    "visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
    "events", "percentage", "conversion_rate", "group_conversion_rate", "time_on_page",
    "total_revenue", "average_revenue",
)  # fmt: skip
SESSION_METRICS = frozenset({"bounce_rate", "visit_duration", "views_per_visit"})
GOAL_METRICS = frozenset({"conversion_rate", "group_conversion_rate"})
REVENUE_METRICS = frozenset({"total_revenue", "average_revenue"})
EVENT_DIMENSIONS = ("event:page", "event:hostname", "event:name", "event:goal")
VISIT_DIMENSIONS = (
    "visit:entry_page", "visit:exit_page", "visit:source", "visit:referrer", "visit:channel",
    "visit:utm_medium", "visit:utm_source", "visit:utm_campaign", "visit:utm_content",
    "visit:utm_term", "visit:device", "visit:browser", "visit:browser_version", "visit:os",
    "visit:os_version", "visit:country", "visit:region", "visit:city", "visit:region_name",
    "visit:city_name",
)  # fmt: skip
TIME_DIMENSIONS = ("time", "time:hour", "time:day", "time:week", "time:month")
PROPS = "event:props:"
SHORTCUTS = ("day", "24h", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all")
OPERATORS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
MAX_LIMIT = 10_000
KEYS = frozenset({"site_id", "metrics", "date_range", "dimensions", "filters", "order_by",
                  "include", "pagination", "date"})  # fmt: skip


def show(value: Any) -> str:
    """A value as JSON, for messages."""
    return json.dumps(value, ensure_ascii=False, default=str)


class QueryError(ValueError):
    """A query Plausible would refuse: 400 with this message."""


@dataclass(frozen=True, slots=True)
class Comparison:
    mode: str  # previous_period | year_over_year | custom
    date_range: tuple[str, str] | None = None
    match_day_of_week: bool = False


@dataclass(frozen=True, slots=True)
class StatsQuery:
    site_id: str
    metrics: tuple[str, ...]
    date_range: Any
    dimensions: tuple[str, ...] = ()
    filters: tuple[Any, ...] = ()
    order_by: tuple[tuple[str, str], ...] | None = None
    time_labels: bool = False
    total_rows: bool = False
    comparison: Comparison | None = None
    limit: int = MAX_LIMIT
    offset: int = 0
    today: date | None = None  # the "date" extension: what "today" is for relative ranges
    include: dict[str, Any] = field(default_factory=dict)

    @property
    def event_dimensions(self) -> list[str]:
        return [d for d in self.dimensions if d.startswith("event:")]

    @property
    def time_dimension(self) -> str | None:
        return next((d for d in self.dimensions if d.startswith("time")), None)


def is_dimension(name: Any) -> bool:
    return isinstance(name, str) and (
        name in EVENT_DIMENSIONS
        or name in VISIT_DIMENSIONS
        or name in TIME_DIMENSIONS
        or (name.startswith(PROPS) and len(name) > len(PROPS))
    )


def _list(body: dict[str, Any], key: str, required: bool = False) -> list[Any]:
    if key not in body:
        if required:
            raise QueryError(f"#: Required property {key} was not present.")
        return []
    value = body[key]
    if not isinstance(value, list):
        raise QueryError(f"#/{key}: Type mismatch. Expected Array but got {_kind(value)}.")
    return value


def _kind(value: Any) -> str:
    return {dict: "Object", list: "Array", str: "String", bool: "Boolean", type(None): "Null"}.get(
        type(value), "Number"
    )


def _metrics(body: dict[str, Any]) -> tuple[str, ...]:
    metrics = _list(body, "metrics", required=True)
    if not metrics:
        raise QueryError("#/metrics: Expected a minimum of 1 items but got 0.")
    for i, metric in enumerate(metrics):
        if metric not in METRICS:
            raise QueryError(f"#/metrics/{i}: Invalid metric {show(metric)}")
    if len(set(metrics)) != len(metrics):
        raise QueryError("#/metrics: Expected items to be unique but they were not.")
    return tuple(metrics)


def _date_range(body: dict[str, Any]) -> Any:
    if "date_range" not in body:
        raise QueryError("#: Required property date_range was not present.")
    value = body["date_range"]
    if isinstance(value, str):
        if value not in SHORTCUTS:
            raise QueryError(f"#/date_range: Invalid date range {show(value)}")
        return value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise QueryError(f"#/date_range: Invalid date range {show(value)}")


def _dimensions(body: dict[str, Any]) -> tuple[str, ...]:
    dimensions = _list(body, "dimensions")
    for i, dimension in enumerate(dimensions):
        if not is_dimension(dimension):
            raise QueryError(f"#/dimensions/{i}: Invalid dimension {show(dimension)}")
    if len(set(dimensions)) != len(dimensions):
        raise QueryError("#/dimensions: Expected items to be unique but they were not.")
    if sum(1 for d in dimensions if d.startswith("time")) > 1:
        raise QueryError("Invalid dimensions: only one time dimension is allowed.")
    return tuple(dimensions)


def check_filter(node: Any, path: str, behavioral: bool = True) -> None:
    """One filter tree (``[op, dimension, clauses, modifiers?]``, ``[and|or, [...]]``,
    ``[not, filter]``, ``[has_done|has_not_done, filter]``)."""
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise QueryError(f"{path}: Invalid filter {show(node)}")
    op = node[0]
    if op in ("and", "or"):
        if len(node) != 2 or not isinstance(node[1], list) or not node[1]:
            raise QueryError(f"{path}: Invalid filter {show(node)}")
        for i, child in enumerate(node[1]):
            check_filter(child, f"{path}/1/{i}", behavioral)
        return
    if op in ("not", "has_done", "has_not_done"):
        if len(node) != 2:
            raise QueryError(f"{path}: Invalid filter {show(node)}")
        if op != "not" and not behavioral:
            raise QueryError(f"{path}: Invalid filter: {op} cannot be nested in {op}")
        check_filter(node[1], f"{path}/1", behavioral and op == "not")
        if op != "not" and _dimensions_of(node[1]) - set(EVENT_DIMENSIONS) - {"props"}:
            raise QueryError(f"{path}: Invalid filter: {op} takes event dimensions only")
        return
    if op not in OPERATORS or len(node) not in (3, 4):
        raise QueryError(f"{path}: Invalid filter {show(node)}")
    dimension, clauses = node[1], node[2]
    if not is_dimension(dimension) or dimension in TIME_DIMENSIONS:
        raise QueryError(f"{path}/1: Invalid filter dimension {show(dimension)}")
    if dimension == "event:goal" and op not in ("is", "contains"):
        raise QueryError(f"{path}: Invalid filter: only is and contains apply to event:goal")
    if (
        not isinstance(clauses, list)
        or not clauses
        or not all(isinstance(c, str | int) and not isinstance(c, bool) for c in clauses)
    ):
        raise QueryError(f"{path}/2: Invalid filter clauses {show(clauses)}: a list of strings")
    if op in ("matches", "matches_not"):
        for clause in clauses:
            try:
                re.compile(str(clause))
            except re.error:
                raise QueryError(f"{path}/2: Invalid regular expression {show(clause)}") from None
    if len(node) == 4:
        modifiers = node[3]
        if (
            not isinstance(modifiers, dict)
            or set(modifiers) - {"case_sensitive"}
            or not isinstance(modifiers.get("case_sensitive", True), bool)
            or op not in ("is", "is_not", "contains", "contains_not")
        ):
            raise QueryError(f"{path}/3: Invalid filter modifiers {show(modifiers)}")


def _dimensions_of(node: list[Any]) -> set[str]:
    if node[0] in ("and", "or"):
        return set().union(*(_dimensions_of(child) for child in node[1]))
    if node[0] in ("not", "has_done", "has_not_done"):
        return _dimensions_of(node[1])
    return {"props" if node[1].startswith(PROPS) else node[1]}


def filter_dimensions(filters: tuple[Any, ...]) -> set[str]:
    """Every dimension the filters name (``props`` for any custom property)."""
    return set().union(*(_dimensions_of(f) for f in filters)) if filters else set()


def _order_by(body: dict[str, Any], metrics: tuple[str, ...], dimensions: tuple[str, ...]):
    if "order_by" not in body:
        return None
    entries = _list(body, "order_by")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 2 or entry[1] not in ("asc", "desc"):
            raise QueryError(f"#/order_by/{i}: Invalid order_by entry {show(entry)}")
        if entry[0] not in metrics and entry[0] not in dimensions:
            raise QueryError(
                f"Invalid order_by entry '{entry[0]}'. Entry is not a queried metric or dimension."
            )
        out.append((entry[0], entry[1]))
    return tuple(out)


def _include(body: dict[str, Any], dimensions: tuple[str, ...]) -> tuple[dict, Comparison | None]:
    include = body.get("include", {})
    if not isinstance(include, dict):
        raise QueryError(f"#/include: Type mismatch. Expected Object but got {_kind(include)}.")
    for key, value in include.items():
        if key in ("time_labels", "total_rows", "imports"):
            if not isinstance(value, bool):
                raise QueryError(f"#/include/{key}: Type mismatch. Expected Boolean.")
        elif key != "comparisons":
            raise QueryError(f"#/include/{key}: Schema does not allow additional properties.")
    if include.get("time_labels") and not any(d.startswith("time") for d in dimensions):
        raise QueryError("Invalid include.time_labels: requires a time dimension.")
    comparison = None
    raw = include.get("comparisons")
    if raw is not None:
        if not isinstance(raw, dict) or raw.get("mode") not in (
            "previous_period", "year_over_year", "custom"
        ):  # fmt: skip
            raise QueryError(f"#/include/comparisons: Invalid comparisons {show(raw)}")
        dates = raw.get("date_range")
        if raw["mode"] == "custom" and not (
            isinstance(dates, list) and len(dates) == 2 and all(isinstance(d, str) for d in dates)
        ):
            raise QueryError("#/include/comparisons/date_range: two ISO dates for mode custom")
        comparison = Comparison(
            raw["mode"],
            tuple(dates) if raw["mode"] == "custom" else None,
            bool(raw.get("match_day_of_week", False)),
        )
    return include, comparison


def _pagination(body: dict[str, Any]) -> tuple[int, int]:
    page = body.get("pagination", {})
    if not isinstance(page, dict) or set(page) - {"limit", "offset"}:
        raise QueryError(f"#/pagination: Invalid pagination {show(page)}")
    limit, offset = page.get("limit", MAX_LIMIT), page.get("offset", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"#/pagination/limit: an integer from 1 to {MAX_LIMIT}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise QueryError("#/pagination/offset: an integer of 0 or more")
    return limit, offset


def _semantics(q: StatsQuery) -> None:
    """Plausible's rules beyond the schema."""
    session = SESSION_METRICS & set(q.metrics)
    if session and q.event_dimensions:
        names = ", ".join(f"`{m}`" for m in q.metrics if m in session)
        raise QueryError(
            f"Session metric(s) {names} cannot be queried along with event dimensions."
        )
    if "percentage" in q.metrics and not q.dimensions:
        raise QueryError("Metric `percentage` can only be queried with a dimension.")
    has_goal = "event:goal" in q.dimensions or "event:goal" in filter_dimensions(q.filters)
    for metric in ("conversion_rate", "group_conversion_rate"):
        if metric in q.metrics and not has_goal:
            raise QueryError(
                f"Metric `{metric}` can only be queried with event:goal filters or dimensions."
            )
    if "group_conversion_rate" in q.metrics and not q.dimensions:
        raise QueryError("Metric `group_conversion_rate` can only be queried with a dimension.")
    if "time_on_page" in q.metrics and not (
        "event:page" in q.dimensions or "event:page" in filter_dimensions(q.filters)
    ):
        raise QueryError(
            "Metric `time_on_page` can only be queried with event:page filters or dimensions."
        )


def parse(body: Any) -> StatsQuery:
    """Check a decoded body; raises ``QueryError`` naming the first problem."""
    if not isinstance(body, dict):
        raise QueryError("#: Type mismatch. Expected Object but got " + _kind(body) + ".")
    for key in body:
        if key not in KEYS:
            raise QueryError(f"#/{key}: Schema does not allow additional properties.")
    site_id = body.get("site_id")
    if not isinstance(site_id, str) or not site_id:
        raise QueryError("#/site_id: Type mismatch. Expected String.")
    metrics = _metrics(body)
    date_range = _date_range(body)
    dimensions = _dimensions(body)
    filters = _list(body, "filters")
    for i, node in enumerate(filters):
        check_filter(node, f"#/filters/{i}")
    order_by = _order_by(body, metrics, dimensions)
    include, comparison = _include(body, dimensions)
    limit, offset = _pagination(body)
    today = None
    if "date" in body:
        try:
            today = date.fromisoformat(body["date"])
        except (TypeError, ValueError):
            raise QueryError("#/date: an ISO 8601 date") from None
    query = StatsQuery(
        site_id=site_id,
        metrics=metrics,
        date_range=date_range,
        dimensions=dimensions,
        filters=tuple(filters),
        order_by=order_by,
        time_labels=bool(include.get("time_labels")),
        total_rows=bool(include.get("total_rows")),
        comparison=comparison,
        limit=limit,
        offset=offset,
        today=today,
        include=include,
    )
    _semantics(query)
    return query
