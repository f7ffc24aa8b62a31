"""The Stats API v2 body checks: what Plausible accepts, and the 400 message for what not."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.query.stats.request import QueryError, filter_dimensions, parse

BASE = {"site_id": "prj_1", "metrics": ["visitors"], "date_range": "7d"}


def test_a_minimal_query_takes_the_defaults():
    q = parse(BASE)
    assert (q.dimensions, q.filters, q.order_by, q.limit, q.offset) == ((), (), None, 10000, 0)
    assert q.comparison is None and not q.time_labels and not q.total_rows


def test_everything_documented_is_accepted():
    q = parse(
        {
            **BASE,
            "metrics": ["visitors", "percentage", "conversion_rate", "group_conversion_rate"],
            "date_range": ["2024-01-01T12:00:00+02:00", "2024-01-01T15:59:59+02:00"],
            "dimensions": ["event:goal", "visit:country", "event:props:plan", "time:day"],
            "filters": [
                ["is", "event:goal", ["Signup"]],
                ["contains", "event:page", ["/blog"], {"case_sensitive": False}],
                ["or", [["matches", "visit:source", ["^Goo"]], ["not", ["is", "visit:os", ["X"]]]]],
                ["has_not_done", ["is", "event:name", ["Logout"]]],
            ],
            "order_by": [["visitors", "desc"], ["visit:country", "asc"]],
            "include": {"time_labels": True, "total_rows": True,
                        "comparisons": {"mode": "year_over_year"}},
            "pagination": {"limit": 5, "offset": 10},
            "date": "2024-02-01",
        }
    )  # fmt: skip
    assert q.comparison is not None and q.comparison.mode == "year_over_year"
    assert q.today == date(2024, 2, 1) and (q.limit, q.offset) == (5, 10)
    assert filter_dimensions(q.filters) == {
        "event:goal", "event:page", "visit:source", "visit:os", "event:name"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"site_id": None}, "#/site_id: Type mismatch. Expected String."),
        ({"metrics": []}, "#/metrics: Expected a minimum of 1 items but got 0."),
        ({"metrics": "visitors"}, "#/metrics: Type mismatch. Expected Array but got String."),
        ({"metrics": ["visitors", "visitors"]}, "#/metrics: Expected items to be unique"),
        ({"date_range": ["2024-01-01"]}, '#/date_range: Invalid date range ["2024-01-01"]'),
        ({"dimensions": ["time", "time:day"]}, "only one time dimension"),
        ({"dimensions": ["event:props:"]}, '#/dimensions/0: Invalid dimension "event:props:"'),
        ({"filters": [["is", "time", ["x"]]]}, '#/filters/0/1: Invalid filter dimension "time"'),
        ({"filters": [["is_not", "event:goal", ["x"]]]}, "only is and contains apply to"),
        ({"filters": [["is", "event:page", []]]}, "#/filters/0/2: Invalid filter clauses"),
        ({"filters": [["is", "event:page", ["/"], {"x": 1}]]}, "#/filters/0/3: Invalid filter"),
        ({"filters": [["and", []]]}, "#/filters/0: Invalid filter"),
        ({"filters": [["has_done", ["is", "visit:source", ["Google"]]]]},
         "has_done takes event dimensions only"),
        ({"filters": [["has_done", ["has_done", ["is", "event:page", ["/"]]]]]},
         "cannot be nested"),
        ({"metrics": ["bounce_rate"], "dimensions": ["event:page"]},
         "Session metric(s) `bounce_rate` cannot be queried along with event dimensions."),
        ({"metrics": ["group_conversion_rate"], "filters": [["is", "event:goal", ["A"]]]},
         "Metric `group_conversion_rate` can only be queried with a dimension."),
        ({"metrics": ["time_on_page"]}, "Metric `time_on_page` can only be queried with"),
        ({"include": {"time_labels": True}}, "include.time_labels: requires a time dimension"),
        ({"include": {"comparisons": {"mode": "custom"}}}, "two ISO dates for mode custom"),
        ({"include": {"nope": True}}, "#/include/nope: Schema does not allow additional"),
        ({"pagination": {"limit": 10001}}, "#/pagination/limit: an integer from 1 to 10000"),
        ({"pagination": {"offset": -1}}, "#/pagination/offset: an integer of 0 or more"),
        ({"order_by": [["visitors", "up"]]}, "#/order_by/0: Invalid order_by entry"),
        ({"date": "yesterday"}, "#/date: an ISO 8601 date"),
    ],
)  # fmt: skip
def test_bad_queries_name_the_problem(change, message):
    with pytest.raises(QueryError) as raised:
        parse({**BASE, **change})
    assert message in str(raised.value)


def test_a_body_that_is_not_an_object():
    with pytest.raises(QueryError, match=r"^#: Type mismatch. Expected Object but got Array.$"):
        parse([])
