"""Metric values as Plausible answers them: counts and whole-number rates as integers,
``views_per_visit`` to 2 decimals, ``percentage`` to 1, revenue as ``{value, currency, short,
long}``; ``change`` against a comparison in percent (``bounce_rate``, ``conversion_rate``: in
points)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.registry.goals import Goal

INTEGERS = frozenset({"visitors", "visits", "pageviews", "events", "bounce_rate",
                      "visit_duration", "time_on_page"})  # fmt: skip
DIGITS = {"views_per_visit": 2, "percentage": 1, "conversion_rate": 2,
          "group_conversion_rate": 2}  # fmt: skip
POINTS = frozenset({"bounce_rate", "conversion_rate", "group_conversion_rate"})
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def half_up(value: float, digits: int = 0) -> float:
    """Rounded half away from zero (as Plausible's Elixir/ClickHouse rounding), not to even."""
    quantum = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def metric_value(metric: str, value: Any) -> Any:
    if isinstance(value, dict) or (
        value is None and metric in ("time_on_page", "total_revenue", "average_revenue")
    ):
        return value  # fmt: skip
    number = float(value or 0)
    if math.isnan(number) or math.isinf(number):
        number = 0.0
    if metric in INTEGERS:
        return int(half_up(number))
    return half_up(number, DIGITS.get(metric, 2))


def change(metric: str, now: Any, then: Any) -> Any:
    """The comparison's ``change``: percent (whole), points for rates; revenue on its value."""
    now = now.get("value") if isinstance(now, dict) else now
    then = then.get("value") if isinstance(then, dict) else then
    if now is None or then is None:
        return None
    if metric in POINTS:
        return half_up(float(now) - float(then), 1) if metric != "bounce_rate" else int(
            half_up(float(now) - float(then)))  # fmt: skip
    if not then:
        return 100 if now else 0
    return int(half_up((float(now) - float(then)) / float(then) * 100))


def money(value: float, currency: str) -> dict[str, Any]:
    symbol = SYMBOLS.get(currency, currency + " ")
    long = f"{symbol}{value:,.2f}"
    short = long
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            short = f"{symbol}{half_up(value / size, 1):g}{unit}"
            break
    return {"value": half_up(value, 2), "currency": currency, "short": short, "long": long}


def revenue_value(metric: str, row: dict[str, Any], currency: str, goals: list[Goal],
                  goal: str | None) -> dict[str, Any] | None:  # fmt: skip
    """``total_revenue`` / ``average_revenue`` of a row; None for a goal without revenue."""
    if goal is not None:
        currency = next((g.currency for g in goals if g.display_name == goal), "")
    if not currency:
        return None
    total, count = float(row.get("revenue_sum") or 0), int(row.get("revenue_count") or 0)
    value = total if metric == "total_revenue" else (total / count if count else 0.0)
    return money(value, currency)
