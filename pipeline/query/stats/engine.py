"""Run a checked ``StatsQuery``: its SELECT, the totals its relative metrics divide by
(``percentage``, ``conversion_rate``, ``group_conversion_rate``), ``time_on_page``, the
comparison period; then the answer as Plausible shapes it (``results``, ``meta``, ``query``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from pipeline.query.stats import dates, sql
from pipeline.query.stats.dates import Range
from pipeline.query.stats.dimensions import Context, Params
from pipeline.query.stats.render import change, half_up, metric_value, revenue_value
from pipeline.query.stats.request import REVENUE_METRICS, StatsQuery, filter_dimensions
from pipeline.registry.goals import Goal

Runner = Callable[[str, dict[str, Any]], tuple[list[str], list[tuple[Any, ...]]]]
PYTHON_ORDERED = frozenset({"group_conversion_rate", "time_on_page", "average_revenue"})


@dataclass(frozen=True, slots=True)
class Site:
    project_id: str
    site_id: str
    timezone: str
    goals: list[Goal]
    first_seen: date | None
    database: str


def _goal_free(filters: tuple[Any, ...]) -> tuple[Any, ...]:
    """The filters without those about goals (conversion rates divide by these visitors)."""
    return tuple(f for f in filters if "event:goal" not in filter_dimensions((f,)))


def _revenue_currency(q: StatsQuery, goals: list[Goal]) -> tuple[str, dict[str, Any] | None]:
    """The one currency revenue metrics sum in, or a Plausible ``metric_warnings`` entry."""
    if not REVENUE_METRICS & set(q.metrics):
        return "", None
    revenue_goals = [g for g in goals if g.currency]
    if not revenue_goals:
        return "", {"code": "no_revenue_goals", "warning":
                    "Revenue metrics are null as there are no revenue goals."}  # fmt: skip
    if "event:goal" in q.dimensions:
        return "", None
    named = _goal_names(q.filters)
    chosen = [g for g in revenue_goals if any(n.lower() in g.display_name.lower() for n in named)]
    if not named or not chosen:
        return "", {"code": "no_revenue_goals_matching", "warning":
                    "Revenue metrics are null as there are no matching revenue goals."}  # fmt: skip
    currencies = {g.currency for g in chosen}
    if len(currencies) > 1:
        return "", {"code": "no_single_revenue_currency", "warning":
                    "Revenue metrics are null as there are multiple currencies for the "
                    "goals being queried."}  # fmt: skip
    return currencies.pop(), None


def _goal_names(filters: tuple[Any, ...]) -> list[str]:
    names: list[str] = []
    for node in filters:
        if node[0] in ("and", "or"):
            names += _goal_names(tuple(node[1]))
        elif node[0] in ("is", "contains") and node[1] == "event:goal":
            names += [str(c) for c in node[2]]
    return names


class Engine:
    def __init__(self, site: Site, run: Runner) -> None:
        self.site = site
        self._run = run

    def _rows(self, select: sql.Select, r: Range) -> list[dict[str, Any]]:
        ctx = Context(self.site.database, self.site.project_id, self.site.timezone,
                      self.site.goals, Params(), r.first.isoformat())  # fmt: skip
        text = sql.build(select, ctx, r)
        columns, rows = self._run(text, ctx.params.values)
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def answer(self, q: StatsQuery) -> dict[str, Any]:
        site = self.site
        r = dates.resolve(q.date_range, site.timezone, q.today, site.first_seen)
        dims = tuple(dates.bucket_of(d, r) for d in q.dimensions)
        time_dim = next((d for d in dims if d.startswith("time")), None)
        order = q.order_by
        if order is None:
            order = ((time_dim, "asc"),) if time_dim else ()
            order = (*order, (q.metrics[0], "desc"))
        else:
            order = tuple((dates.bucket_of(n, r), d) for n, d in order)
        currency, warning = _revenue_currency(q, site.goals)
        unread = {"time_on_page", *(REVENUE_METRICS if warning else ())}
        in_python = bool(PYTHON_ORDERED & {name for name, _ in order}) or (
            q.comparison is not None and time_dim is not None
        )
        select = sql.Select(
            dimensions=dims,
            # time_on_page comes from a query of its own (below), revenue under a warning is
            # null (not read); this one then still needs a column, or a query without
            # dimensions would select nothing
            columns=sql.columns_for(tuple(m for m in q.metrics if m not in unread))
            or ("visitors",),
            filters=q.filters,
            order_by=order,
            limit=None if in_python else q.limit,
            offset=0 if in_python else q.offset,
            total_rows=q.total_rows and not in_python,
            revenue_currency=currency,
        )
        rows = self._compute(q, select, r, warning)
        meta: dict[str, Any] = {}
        if warning:
            meta["metric_warnings"] = {m: warning for m in q.metrics if m in REVENUE_METRICS}
        if time_dim and q.comparison is not None:
            rows = _fill_labels(rows, dims, dates.labels(time_dim, r), q.metrics)
        if in_python:
            rows = _sorted(rows, order, dims, q.metrics)
        total = rows[0].pop("total_rows", None) if rows else 0
        for row in rows:
            row.pop("total_rows", None)
        if in_python:
            total, rows = len(rows), rows[q.offset : q.offset + q.limit]
        elif q.total_rows and dims and not rows and q.offset:  # a page past the end
            everything = replace(select, limit=None, offset=0, total_rows=False)
            total = len(self._rows(everything, r))
        results = [_result(row, dims, q.metrics) for row in rows]
        if q.comparison is not None:
            self._compare(q, select, r, dims, rows, results, warning)
        if q.time_labels and time_dim:
            meta["time_labels"] = dates.labels(time_dim, r)
        if q.total_rows:
            meta["total_rows"] = int(total or 0) if dims else len(results)
        return {"results": results, "meta": meta, "query": _echo(q, r, dims, order)}

    def _compute(self, q: StatsQuery, select: sql.Select, r: Range,
                 warning: dict[str, Any] | None) -> list[dict[str, Any]]:  # fmt: skip
        """Rows with every metric of ``q`` under its name (SQL columns, then derived ones)."""
        rows = self._rows(select, r)
        if not select.dimensions and not rows:
            rows = [{}]
        metrics = set(q.metrics)
        if "percentage" in metrics:
            total = self._visitors(select, r, (), select.filters).get((), 0)
            for row in rows:
                row["percentage"] = _ratio(row.get("visitors", 0), total, 1)
        if "conversion_rate" in metrics:
            total = self._visitors(select, r, (), _goal_free(select.filters)).get((), 0)
            for row in rows:
                row["conversion_rate"] = _ratio(row.get("visitors", 0), total, 2)
        if "group_conversion_rate" in metrics:
            groups = tuple(d for d in select.dimensions if d != "event:goal")
            totals = self._visitors(select, r, groups, _goal_free(select.filters))
            index = [select.dimensions.index(d) for d in groups]
            for row in rows:
                key = tuple(row.get(f"d{i}") for i in index)
                row["group_conversion_rate"] = _ratio(row.get("visitors", 0), totals.get(key, 0), 2)
        if "time_on_page" in metrics:
            timing = replace(select, columns=(), order_by=(), limit=None, offset=0,
                             total_rows=False, time_on_page=True)  # fmt: skip
            found = {
                _key(t, select.dimensions): t.get("time_on_page") for t in self._rows(timing, r)
            }
            for row in rows:
                value = found.get(_key(row, select.dimensions))
                row["time_on_page"] = None if value is None or math.isnan(value) else value
        for metric in REVENUE_METRICS & metrics:
            for row in rows:
                row[metric] = None if warning else revenue_value(
                    metric, row, currency=select.revenue_currency, goals=self.site.goals,
                    goal=row.get(f"d{select.dimensions.index('event:goal')}")
                    if "event:goal" in select.dimensions else None,
                )  # fmt: skip
        return rows

    def _visitors(self, select: sql.Select, r: Range, dims: tuple[str, ...],
                  filters: tuple[Any, ...]) -> dict[tuple[Any, ...], int]:  # fmt: skip
        totals = sql.Select(dimensions=dims, columns=("visitors",), filters=filters,
                            events_only=not sql.sessions_only(select))  # fmt: skip
        rows = self._rows(totals, r)
        return {_key(row, dims): row["visitors"] for row in rows}

    def _compare(self, q: StatsQuery, select: sql.Select, r: Range, dims: tuple[str, ...],
                 rows: list[dict[str, Any]], results: list[dict[str, Any]],
                 warning: dict[str, Any] | None) -> None:  # fmt: skip
        assert q.comparison is not None
        other = dates.comparison_range(r, q.comparison.mode, q.comparison.date_range,
                                       q.comparison.match_day_of_week)  # fmt: skip
        time_dim = next((d for d in dims if d.startswith("time")), None)
        everything = replace(select, limit=None, offset=0, total_rows=False)
        past = self._compute(q, everything, other, warning)
        if time_dim:
            past = _fill_labels(past, dims, dates.labels(time_dim, other), q.metrics)
            position = dims.index(time_dim)
            mine = dates.labels(time_dim, r)
            theirs = dates.labels(time_dim, other)
            by_key = {_key(row, dims): row for row in past}
            for row, result in zip(rows, results, strict=True):
                at = mine.index(row[f"d{position}"]) if row[f"d{position}"] in mine else -1
                shifted = dict(row)
                shifted[f"d{position}"] = theirs[at] if 0 <= at < len(theirs) else None
                found = by_key.get(_key(shifted, dims), {f"d{position}": shifted[f"d{position}"]})
                result["comparison"] = _comparison(found, result, dims, q.metrics)
            return
        by_key = {_key(row, dims): row for row in past}
        for row, result in zip(rows, results, strict=True):
            found = by_key.get(_key(row, dims), {f"d{i}": row[f"d{i}"] for i in range(len(dims))})
            result["comparison"] = _comparison(found, result, dims, q.metrics)


def _comparison(row: dict[str, Any], result: dict[str, Any], dims: tuple[str, ...],
                metrics: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    past = _result(row, dims, metrics)
    return {
        "dimensions": past["dimensions"],
        "metrics": past["metrics"],
        "change": [change(m, now, then) for m, now, then in
                   zip(metrics, result["metrics"], past["metrics"], strict=True)],
    }  # fmt: skip


def _key(row: dict[str, Any], dims: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row.get(f"d{i}") for i in range(len(dims)))


def _ratio(part: float, whole: float, digits: int) -> float:
    return half_up(part / whole * 100, digits) if whole else 0.0


def _result(row: dict[str, Any], dims: tuple[str, ...], metrics: tuple[str, ...]) -> dict:
    return {
        "metrics": [metric_value(m, row.get(m)) for m in metrics],
        "dimensions": [row.get(f"d{i}") for i in range(len(dims))],
    }


def _fill_labels(rows: list[dict[str, Any]], dims: tuple[str, ...], labels: list[str],
                 metrics: tuple[str, ...]) -> list[dict[str, Any]]:  # fmt: skip
    """A row for every time bucket (zeros where nothing happened), for time comparisons."""
    if len(dims) != 1:
        return rows
    found = {row["d0"]: row for row in rows}
    return [found.get(label, {"d0": label}) for label in labels]


def _sorted(rows: list[dict[str, Any]], order: tuple[tuple[str, str], ...],
            dims: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict[str, Any]]:  # fmt: skip
    index = {d: f"d{i}" for i, d in enumerate(dims)}
    out = sorted(rows, key=lambda row: _key(row, dims))
    for name, direction in reversed(order):
        column = index.get(name, name)

        def value(row: dict[str, Any], column: str = column) -> Any:
            v = row.get(column)
            v = v.get("value") if isinstance(v, dict) else v
            return (v is not None, v if v is not None else 0)

        out.sort(key=value, reverse=direction == "desc")
    return out


def _echo(q: StatsQuery, r: Range, dims: tuple[str, ...], order: Any) -> dict[str, Any]:
    echo: dict[str, Any] = {
        "site_id": q.site_id,
        "metrics": list(q.metrics),
        "date_range": r.echo,
        "filters": list(q.filters),
        "dimensions": list(dims),
        "order_by": [list(entry) for entry in order],
        "include": q.include,
        "pagination": {"offset": q.offset, "limit": q.limit},
    }
    return echo
