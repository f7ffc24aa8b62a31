"""Funnel, retention and revenue requests -> SQL and answers (no engine: the integration tests
run the SQL)."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.query import funnels, retention, revenue
from pipeline.query.invalid import InvalidQuery

TODAY = date(2026, 12, 5)
STEPS = [{"event": "signup"}, {"page": "/pricing*"}, {"event": "paid"}]


def test_a_funnel_filters_project_and_time_first_and_counts_each_level():
    funnel = funnels.parse("prj", {"steps": STEPS, "window": "1h"}, "db", TODAY)
    assert funnel.window_ms == 3_600_000 and funnel.counting == "users"
    assert funnel.span.json() == ["2026-11-06", "2026-12-05"]
    assert "windowFunnel(" in funnel.sql and "'strict_increase'" in funnel.sql
    where = funnel.sql[funnel.sql.index("WHERE project_id") :]
    assert where.index("project_id = {project:String}") < where.index("timestamp")
    assert "LEFT JOIN" in funnel.sql and "identities" in funnel.sql  # persons, hashed
    assert all(f"countIf(level >= {k})" in funnel.sql for k in (1, 2, 3))
    assert funnel.parameters["project"] == "prj" and 16 * 3_600_000 in funnel.parameters.values()
    assert "GROUP BY value" not in funnel.sql


def test_a_breakdown_ranks_values_by_their_first_step():
    body = {"steps": STEPS, "breakdown": "utm_source", "breakdown_limit": 3}
    funnel = funnels.parse("prj", body, "db", TODAY)
    assert "argMinIf(utm_source, t," in funnel.sql
    assert funnel.sql.endswith("ORDER BY countIf(level >= 1) DESC, value LIMIT 3")


def test_visitors_counting_and_bots():
    body = {"steps": STEPS, "counting": "visitors", "include_bots": True}
    funnel = funnels.parse("prj", body, "db", TODAY)
    assert "e.vh, cityHash64(e.uh)) AS who" in funnel.sql and "identities" not in funnel.sql
    assert funnel.parameters["include_bots"] == 1


@pytest.mark.parametrize("body", [[], "steps", {"steps": STEPS * 4}, {"steps": STEPS, "x": 1}])
def test_bad_funnel_bodies(body):
    with pytest.raises(InvalidQuery):
        funnels.parse("prj", body, "db", TODAY)


def test_step_rows_conversion_and_dropoff():
    rows = funnels.step_rows(["a", "b", "c"], [200, 50, 0])
    assert [r["conversion_rate"] for r in rows] == [100.0, 25.0, 0.0]
    assert [r["conversion_rate_step"] for r in rows] == [100.0, 25.0, 0.0]
    assert [r["dropoff"] for r in rows] == [0, 150, 50]
    assert [r["dropoff_rate"] for r in rows] == [0.0, 75.0, 100.0]
    empty = funnels.step_rows(["a", "b"], [0, 0])
    assert [r["conversion_rate"] for r in empty] == [0.0, 0.0]


def test_retention_spans_whole_periods_up_to_the_end():
    query = retention.parse("prj", {"cohorts": "4", "end": "2026-11-26"}, "db", TODAY)
    assert query.span.json() == ["2026-11-02", "2026-11-26"]  # Mondays: 4 weeks
    daily = retention.parse("prj", {"period": "day", "cohorts": "3"}, "db", TODAY)
    assert daily.span.json() == ["2026-12-03", "2026-12-05"]
    answer = retention.answer(query, [(date(2026, 11, 2), 0, 4), (date(2026, 11, 2), 2, 1)])
    first = answer["cohorts"][0]
    assert first["size"] == 4 and [c["count"] for c in first["returning"]] == [4, 0, 1, 0]
    assert [c["percentage"] for c in first["returning"]] == [100.0, 0.0, 25.0, 0.0]
    assert [len(c["returning"]) for c in answer["cohorts"]] == [4, 3, 2, 1]


def test_revenue_answer_per_currency():
    query = revenue.parse("prj", {"date_range": "2026-11-01,2026-11-03"}, "db", TODAY)
    sums = [("USD", "buy", date(2026, 11, 1), 10.0, 2), ("USD", "sub", date(2026, 11, 3), 5.0, 1),
            ("EUR", "buy", date(2026, 11, 2), 7.0, 1)]  # fmt: skip
    answer = revenue.answer(query, sums, [("USD", 2), ("EUR", 1)], [("USD", 12.5, 2, 1)])
    eur, usd = answer["currencies"]
    assert (usd["total"], usd["events"], usd["average"], usd["arpu"]) == (15.0, 3, 5.0, 7.5)
    assert (usd["mrr"], usd["active_subscriptions"], usd["subscribers"]) == (12.5, 2, 1)
    assert [e["event"] for e in usd["by_event"]] == ["buy", "sub"]
    assert [p["total"] for p in usd["series"]] == [10.0, 0.0, 5.0]
    assert eur["mrr"] == 0.0 and [p["events"] for p in eur["series"]] == [0, 1, 0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("counting", ["users"]), ("breakdown", ["browser"]), ("counting", {"a": 1}),
     ("breakdown", {"b": 2}), ("window", [60]), ("date_range", {"a": 1})],
)  # fmt: skip
def test_unhashable_values_are_400_not_a_crash(field, value):
    """Found by the fuzz test: ``[...] in dict`` raised TypeError (a 500)."""
    with pytest.raises(InvalidQuery) as caught:
        funnels.parse("prj", {"steps": STEPS, field: value}, "db", TODAY)
    assert caught.value.field == field
