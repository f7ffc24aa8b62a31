"""POST /api/v2/query's refusals: 400 with Plausible's ``{"error"}`` naming the field, 401 for
keys and site ids, and random queries (hypothesis) that never make the server fail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.helpers import key_headers, post_batch, read_headers
from tests.integration.server import wait_for

pytestmark = pytest.mark.slow
MISSING_KEY = "Missing API key. Please use a valid Plausible API key as a Bearer Token."
INVALID_KEY = (
    "Invalid API key or site ID. Please make sure you're using a valid API key with access "
    "to the site you've requested."
)


REFERRERS = ["", "https://www.google.com/", "https://t.co/x"]


@pytest.fixture(scope="module")
def site(embedded):
    """A project with a few visits, a revenue goal and a page goal (for the random queries)."""
    project = embedded.projects[1]
    events = [
        {"type": "page", "visitor_id": f"r-{i}", "timestamp": f"2021-01-0{1 + i % 7}T10:00:00Z",
         "context": {"page": {"url": f"https://dummy.site/{i % 3}",
                              "referrer": REFERRERS[i % 3]}}}
        for i in range(12)
    ] + [{"type": "track", "event": "Purchase", "visitor_id": "r-1", "revenue_amount": 5.0,
          "revenue_currency": "USD", "timestamp": "2021-01-02T10:01:00Z"}]  # fmt: skip
    assert post_batch(embedded, project, events).status_code == 202
    for goal in ({"event_name": "Purchase", "currency": "USD"}, {"page_path": "/*"}):
        created = httpx.post(f"{embedded.url}/api/v1/goals", json=goal,
                             headers=read_headers(project))  # fmt: skip
        assert created.status_code == 201, created.text
    body = {"metrics": ["events"], "date_range": ["2021-01-01", "2021-01-31"]}
    wait_for(lambda: query(embedded, project, body)["results"][0]["metrics"] == [13], 60)
    return embedded, project


def query(server, project, body: dict[str, Any], status: int = 200, headers=None) -> Any:
    body = {"site_id": project["project_id"], **body}
    headers = read_headers(project) if headers is None else headers
    response = httpx.post(f"{server.url}/api/v2/query", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"metrics": ["nope"], "date_range": "7d"}, '#/metrics/0: Invalid metric "nope"'),
        ({"metrics": ["visitors"]}, "#: Required property date_range was not present."),
        ({"metrics": ["visitors"], "date_range": "5d"}, '#/date_range: Invalid date range "5d"'),
        (
            {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:nope"]},
            '#/dimensions/0: Invalid dimension "visit:nope"',
        ),
        (
            {
                "metrics": ["visitors"],
                "date_range": "7d",
                "filters": [["equals", "event:page", ["/"]]],
            },
            '#/filters/0: Invalid filter ["equals", "event:page", ["/"]]',
        ),
        (
            {"metrics": ["percentage"], "date_range": "7d"},
            "Metric `percentage` can only be queried with a dimension.",
        ),
        (
            {"metrics": ["conversion_rate"], "date_range": "7d"},
            "Metric `conversion_rate` can only be queried with event:goal filters or dimensions.",
        ),
        (
            {"metrics": ["visitors"], "date_range": "7d", "order_by": [["events", "desc"]]},
            "Invalid order_by entry 'events'. Entry is not a queried metric or dimension.",
        ),
        (
            {"metrics": ["visitors"], "date_range": "7d", "pagination": {"limit": 0}},
            "#/pagination/limit: an integer from 1 to 10000",
        ),
        (
            {
                "metrics": ["visitors"],
                "date_range": "7d",
                "filters": [["matches", "event:page", ["("]]],
            },
            '#/filters/0/2: Invalid regular expression "("',
        ),
        (
            {
                "metrics": ["visitors"],
                "date_range": "7d",
                "filters": [["matches", "event:page", ["(?=a)"]]],
            },
            'Invalid filter: RE2 cannot compile the regular expression "(?=a)"',
        ),
        (
            {
                "metrics": ["visitors"],
                "date_range": ["2024-01-01", "2100-12-31"],
                "dimensions": ["time:hour"],
                "include": {"time_labels": True},
            },
            "Invalid date_range: more than 100000 time:hour buckets",
        ),
        (
            {"metrics": ["visitors"], "date_range": "7d", "extra": 1},
            "#/extra: Schema does not allow additional properties.",
        ),
    ],
)
def test_invalid_queries_answer_400_naming_the_field(site, body, error):
    assert query(*site, body, 400) == {"error": error}


def test_keys_and_site_ids(site):
    server, project = site
    other = server.projects[0]
    body = {"metrics": ["visitors"], "date_range": "7d"}
    assert query(server, project, body, 401, headers={}) == {"error": MISSING_KEY}
    bad = {"Authorization": "Bearer ths_wrong"}
    assert query(server, project, body, 401, headers=bad) == {"error": INVALID_KEY}
    assert query(server, project, body, 401, headers=key_headers(project)) == {"error": INVALID_KEY}
    elsewhere = {**body, "site_id": other["project_id"]}
    assert query(server, project, elsewhere, 401) == {"error": INVALID_KEY}
    response = httpx.post(f"{server.url}/api/v2/query", json=body, headers=read_headers(project))
    assert response.status_code == 400
    assert response.json() == {
        "error": "Missing site ID. Please provide the required site_id parameter with your request."
    }
    broken = httpx.post(f"{server.url}/api/v2/query", content=b"{", headers=read_headers(project))
    assert broken.status_code == 400 and broken.json() == {"error": "Invalid JSON body"}


DIMENSIONS = [
    "event:page", "event:hostname", "event:name", "event:goal", "event:props:method",
    "visit:entry_page", "visit:exit_page", "visit:source", "visit:referrer", "visit:channel",
    "visit:utm_source", "visit:device", "visit:browser", "visit:browser_version", "visit:os",
    "visit:country", "visit:city", "time", "time:hour", "time:day", "time:week", "time:month",
]  # fmt: skip
METRICS = [
    "visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
    "events", "percentage", "conversion_rate", "group_conversion_rate", "time_on_page",
    "total_revenue", "average_revenue",
]  # fmt: skip
SIMPLE = st.tuples(
    st.sampled_from(["is", "is_not", "contains", "contains_not", "matches", "matches_not"]),
    st.sampled_from([d for d in DIMENSIONS if not d.startswith("time")]),
    st.lists(st.sampled_from(["/", "Chrome", "Google", "a.*", "Purchase", "x'y", ""]),
             min_size=1, max_size=2),
).map(list)  # fmt: skip
FILTER = st.recursive(
    SIMPLE,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=1, max_size=2)).map(
            list
        ),
        st.tuples(st.just("not"), inner).map(list),
        st.tuples(st.sampled_from(["has_done", "has_not_done"]), SIMPLE).map(list),
    ),
    max_leaves=4,
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    metrics=st.lists(st.sampled_from(METRICS), min_size=1, max_size=4, unique=True),
    dims=st.lists(st.sampled_from(DIMENSIONS), max_size=2, unique=True),
    filters=st.lists(FILTER, max_size=2),
    date_range=st.sampled_from(["day", "7d", "all", "12mo", ["2021-01-01", "2023-12-31"]]),
    include=st.fixed_dictionaries(
        {},
        optional={
            "time_labels": st.booleans(),
            "total_rows": st.booleans(),
            "comparisons": st.sampled_from(
                [
                    {"mode": "previous_period"},
                    {"mode": "year_over_year"},
                    {"mode": "custom", "date_range": ["2021-01-01", "2021-02-01"]},
                ]
            ),
        },
    ),
    order=st.booleans(),
)
def test_no_query_makes_the_server_fail(site, metrics, dims, filters, date_range, include, order):
    body = {"metrics": metrics, "dimensions": dims, "filters": filters, "date_range": date_range,
            "include": include, "pagination": {"limit": 3}}  # fmt: skip
    if order:
        body["order_by"] = [[metrics[-1], "asc"]]
    server, project = site
    response = httpx.post(f"{server.url}/api/v2/query", json={"site_id": project["project_id"],
                          **body}, headers=read_headers(project), timeout=60)  # fmt: skip
    assert response.status_code in (200, 400), (body, response.text)
    if response.status_code == 200:
        answer = response.json()
        assert len(answer["results"]) <= 3
        assert all(len(r["metrics"]) == len(metrics) for r in answer["results"])


@pytest.mark.parametrize("order_by", [None, [["time_on_page", "desc"]]])
def test_time_on_page_alone_by_page_is_answered(site, order_by):
    """Found by the random queries: ``time_on_page`` as the only metric ordered the SQL by a
    column it did not select (the storage refused it; the client saw a 503)."""
    server, project = site
    body: dict[str, Any] = {
        "site_id": project["project_id"],
        "metrics": ["time_on_page"],
        "dimensions": ["event:page"],
        "date_range": ["2021-01-01", "2021-01-31"],
    }
    if order_by:
        body["order_by"] = order_by
    response = httpx.post(f"{server.url}/api/v2/query", json=body, headers=read_headers(project),
                          timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    pages = {r["dimensions"][0] for r in response.json()["results"]}
    assert pages >= {"/0", "/1", "/2"}  # and "(not set)": the purchase was sent without a page


def test_time_on_page_alone_without_dimensions_is_answered(site):
    """Found by the random queries: ``time_on_page`` as the only metric, no dimension (a page
    filter makes it valid) selected no column at all, a syntax error the client saw as a 503."""
    server, project = site
    views = [{"type": "page", "visitor_id": "top-1", "timestamp": f"2021-01-20T10:00:{s}Z",
              "context": {"page": {"url": f"https://dummy.site/{page}"}}}
             for page, s in (("0", "00"), ("1", "30"))]  # fmt: skip
    assert post_batch(server, project, views).status_code == 202
    body = {
        "site_id": project["project_id"],
        "metrics": ["time_on_page"],
        "filters": [["is", "event:page", ["/0"]]],
        "date_range": ["2021-01-01", "2021-01-31"],
    }

    def timed() -> Any:
        answer = httpx.post(f"{server.url}/api/v2/query", json=body,
                            headers=read_headers(project), timeout=60)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["results"][0]["metrics"][0] is not None and answer

    response = wait_for(timed, 60)
    assert response, "the two page views did not arrive"
    [row] = response.json()["results"]
    assert row["metrics"] == [30]  # /0 at 10:00:00, the next view at 10:00:30
    by_page = httpx.post(f"{server.url}/api/v2/query", json={**body, "dimensions": ["event:page"]},
                         headers=read_headers(project), timeout=60).json()  # fmt: skip
    [page] = [r for r in by_page["results"] if r["dimensions"] == ["/0"]]
    assert row["dimensions"] == [] and row["metrics"] == page["metrics"]


def test_revenue_alone_without_revenue_goals_is_one_null_row(embedded):
    """Found timing the dashboard's own requests on 10M events: revenue metrics alone, without
    a dimension, in a project without a revenue goal selected a constant and no aggregate, so
    the answer had a row per event (107 s and millions of rows, where Plausible answers one row
    of nulls with a warning)."""
    project = embedded.projects[0]  # no goals
    views = [{"type": "page", "visitor_id": f"nr-{i}", "timestamp": f"2021-02-0{1 + i}T10:00:00Z",
              "context": {"page": {"url": "https://dummy.site/"}}} for i in range(3)]  # fmt: skip
    assert post_batch(embedded, project, views).status_code == 202
    counted = {"metrics": ["pageviews"], "date_range": ["2021-02-01", "2021-02-28"]}
    wait_for(lambda: query(embedded, project, counted)["results"][0]["metrics"] == [3], 60)
    body = {
        "metrics": ["total_revenue", "average_revenue"],
        "date_range": ["2021-02-01", "2021-02-28"],
        "include": {"comparisons": {"mode": "previous_period"}},
    }
    answer = query(embedded, project, body)
    assert [r["metrics"] for r in answer["results"]] == [[None, None]], answer["results"][:3]
    assert [r["comparison"]["metrics"] for r in answer["results"]] == [[None, None]]
    warning = {"code": "no_revenue_goals",
               "warning": "Revenue metrics are null as there are no revenue goals."}  # fmt: skip
    assert answer["meta"]["metric_warnings"] == {"total_revenue": warning,
                                                 "average_revenue": warning}  # fmt: skip
