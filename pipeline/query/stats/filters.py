"""Filter trees -> a ClickHouse condition over an event row (and its session): Plausible's
``is``, ``is_not``, ``contains``, ``contains_not``, ``matches``, ``matches_not`` (RE2), the
``case_sensitive`` modifier, ``and``/``or``/``not`` and the behavioural ``has_done`` /
``has_not_done`` (the visit has, or has not, an event matching the inner filter)."""

from __future__ import annotations

from typing import Any

from pipeline.query.stats import dimensions
from pipeline.query.stats.dimensions import Context, goal_condition
from pipeline.query.stats.request import PROPS, QueryError, filter_dimensions


def condition(node: list[Any], ctx: Context, scope: str) -> str:
    """``scope``: the SQL of the rows a behavioural filter searches (events of the range)."""
    op = node[0]
    if op in ("and", "or"):
        joined = f" {op.upper()} ".join(condition(child, ctx, scope) for child in node[1])
        return f"({joined})"
    if op == "not":
        return f"NOT ({condition(node[1], ctx, scope)})"
    if op in ("has_done", "has_not_done"):
        inner = condition(node[1], ctx, scope)
        found = f"e.session_id IN (SELECT e.session_id FROM {scope} AND {inner})"
        return found if op == "has_done" else f"NOT ({found})"
    dimension, clauses = node[1], [str(c) for c in node[2]]
    sensitive = (node[3] if len(node) == 4 else {}).get("case_sensitive", True)
    if dimension == "event:goal":
        return _goal(op, clauses, sensitive, ctx)
    if dimension.startswith(PROPS) and kind_of(op) == "is":
        clauses = ["" if c == dimensions.NONE else c for c in clauses]  # "(none)": not set
    expr = dimensions.raw(dimension, ctx)
    positive = op in ("is", "contains", "matches")
    kind = kind_of(op)
    if kind == "is":
        if sensitive:
            test = f"{expr} IN {ctx.params.add(clauses, 'Array(String)')}"
        else:
            lowered = [c.lower() for c in clauses]
            test = f"lowerUTF8({expr}) IN {ctx.params.add(lowered, 'Array(String)')}"
    elif kind == "contains":
        search = "multiSearchAny" if sensitive else "multiSearchAnyCaseInsensitiveUTF8"
        test = f"{search}({expr}, {ctx.params.add(clauses, 'Array(String)')})"
    else:
        test = "(" + " OR ".join(f"match({expr}, {ctx.params.add(c)})" for c in clauses) + ")"
    return test if positive else f"NOT ({test})"


def _goal(op: str, clauses: list[str], sensitive: bool, ctx: Context) -> str:
    def named(goal_name: str, clause: str) -> bool:
        a, b = (goal_name, clause) if sensitive else (goal_name.lower(), clause.lower())
        return a == b if op == "is" else b in a

    goals = [g for g in ctx.goals if any(named(g.display_name, c) for c in clauses)]
    if op == "is":
        known = {g.display_name if sensitive else g.display_name.lower() for g in ctx.goals}
        for clause in clauses:
            if (clause if sensitive else clause.lower()) not in known:
                raise QueryError(f"The goal `{clause}` is not configured for this site.")
    if not goals:
        return "0"
    return "(" + " OR ".join(goal_condition(g, ctx.params) for g in goals) + ")"


def needs_session(filters: tuple[Any, ...]) -> bool:
    return any(dimensions.session_dimension(d) for d in filter_dimensions(filters))


def kind_of(op: str) -> str:
    return op.removesuffix("_not")
