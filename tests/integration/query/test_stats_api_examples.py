"""POST /api/v2/query: hand-checked examples of Plausible's documentation and its own test
suite (the same events, the same answers), goals and revenue, time on page, realtime visitors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.helpers import CHROME_WINDOWS, post_batch, read_headers
from tests.integration.server import wait_for

pytestmark = pytest.mark.slow
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)


def _pageview(n: int, at: str, agent: str = CHROME_WINDOWS, **extra: Any) -> dict[str, Any]:
    """Plausible's ``build(:pageview)``: each one its own visitor."""
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return {
        "type": "page",
        "visitor_id": f"example-{n}",
        "timestamp": int(moment.timestamp() * 1000),
        "context": {"user_agent": agent, "page": {"url": "https://dummy.site/"}},
        **extra,
    }


EXAMPLES = [
    # "aggregates a single metric" (2021)
    *(
        _pageview(i, at)
        for i, at in enumerate(
            [
                "2021-01-01 00:00:00",
                "2021-01-01 00:25:00",
                "2021-01-02 00:00:00",
                "2021-01-07 00:00:00",
            ]
        )
    ),
    # "timeseries comparison", a year later (2022)
    *(
        _pageview(10 + i, at)
        for i, at in enumerate(
            [
                "2022-01-01 00:00:00",
                "2022-01-01 00:25:00",
                "2022-01-06 00:00:00",
                "2022-01-07 00:00:00",
                "2022-01-08 00:00:00",
            ]
        )
    ),
    # "dimensional comparison with low limit", two years later (2023)
    *(
        _pageview(20 + i, at, agent)
        for i, (agent, at) in enumerate(
            [(FIREFOX, "2023-01-01 00:00:00")] * 4
            + [(SAFARI, "2023-01-01 00:00:00")] * 3
            + [(CHROME_WINDOWS, "2023-01-01 00:00:00")]
            + [(CHROME_WINDOWS, "2023-01-07 00:00:00")] * 3
            + [(FIREFOX, "2023-01-07 00:00:00")] * 2
            + [(SAFARI, "2023-01-08 00:00:00")]
        )
    ),
]


@pytest.fixture(scope="module")
def site(embedded):
    project = embedded.projects[1]
    assert post_batch(embedded, project, EXAMPLES).status_code == 202
    wait_for(
        lambda: (
            query(
                embedded,
                project,
                {"metrics": ["pageviews"], "date_range": ["2021-01-01", "2023-12-31"]},
            )["results"][0]["metrics"]
            == [len(EXAMPLES)]
        ),
        60,
    )
    return embedded, project


def query(server, project, body: dict[str, Any], status: int = 200, headers=None) -> Any:
    body = {"site_id": project["project_id"], **body}
    response = httpx.post(
        f"{server.url}/api/v2/query",
        json=body,
        headers=read_headers(project) if headers is None else headers,
    )
    assert response.status_code == status, response.text
    return response.json()


def test_aggregate_with_previous_period(site):
    body = {
        "metrics": ["pageviews"],
        "date_range": ["2021-01-07", "2021-01-13"],
        "include": {"comparisons": {"mode": "previous_period"}},
    }
    assert query(*site, body)["results"] == [
        {
            "dimensions": [],
            "metrics": [1],
            "comparison": {"change": [-67], "dimensions": [], "metrics": [3]},
        }
    ]


def test_timeseries_with_previous_period(site):
    body = {
        "metrics": ["pageviews"],
        "date_range": ["2022-01-07", "2022-01-13"],
        "dimensions": ["time:day"],
        "include": {"comparisons": {"mode": "previous_period"}},
    }
    days = [f"2022-01-{d:02d}" for d in range(7, 14)]
    past = ["2021-12-31", *(f"2022-01-{d:02d}" for d in range(1, 7))]
    now, then, change = [1, 1, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0, 1], [100, -50, 0, 0, 0, 0, -100]
    assert query(*site, body)["results"] == [
        {
            "dimensions": [d],
            "metrics": [n],
            "comparison": {"dimensions": [p], "metrics": [t], "change": [c]},
        }
        for d, p, n, t, c in zip(days, past, now, then, change, strict=True)
    ]


def test_dimensional_comparison_with_low_limit(site):
    body = {
        "metrics": ["visitors", "percentage"],
        "date_range": ["2023-01-07", "2023-01-13"],
        "dimensions": ["visit:browser"],
        "pagination": {"limit": 2},
        "include": {"comparisons": {"mode": "previous_period"}},
    }
    assert query(*site, body)["results"] == [
        {
            "dimensions": ["Chrome"],
            "metrics": [3, 50.0],
            "comparison": {"dimensions": ["Chrome"], "metrics": [1, 12.5], "change": [200, 300]},
        },
        {
            "dimensions": ["Firefox"],
            "metrics": [2, 33.3],
            "comparison": {"dimensions": ["Firefox"], "metrics": [4, 50.0], "change": [-50, -33]},
        },
    ]
    body["pagination"] = {"limit": 2, "offset": 2}
    assert query(*site, body)["results"] == [
        {
            "dimensions": ["Safari"],
            "metrics": [1, 16.7],
            "comparison": {"dimensions": ["Safari"], "metrics": [3, 37.5], "change": [-67, -55]},
        }
    ]


def test_time_labels_and_the_query_echo(site):
    body = {
        "metrics": ["visitors"],
        "date_range": ["2021-01-01", "2021-01-01"],
        "dimensions": ["time:hour"],
        "include": {"time_labels": True},
    }
    answer = query(*site, body)
    assert answer["results"] == [{"metrics": [2], "dimensions": ["2021-01-01 00:00:00"]}]
    assert answer["meta"]["time_labels"] == [f"2021-01-01 {h:02d}:00:00" for h in range(24)]
    assert answer["query"] == {
        "site_id": site[1]["project_id"],
        "metrics": ["visitors"],
        "date_range": ["2021-01-01T00:00:00+00:00", "2021-01-01T23:59:59+00:00"],
        "filters": [],
        "dimensions": ["time:hour"],
        "order_by": [["time:hour", "asc"], ["visitors", "desc"]],
        "include": {"time_labels": True},
        "pagination": {"offset": 0, "limit": 10000},
    }


def test_pagination_with_total_rows(site):
    body = {
        "metrics": ["visitors"],
        "date_range": ["2023-01-01", "2023-01-31"],
        "dimensions": ["visit:browser"],
        "include": {"total_rows": True},
        "pagination": {"offset": 1, "limit": 1},
    }
    answer = query(*site, body)
    # Firefox 6, then Chrome and Safari 4 each (ties: by the dimension)
    assert answer["results"] == [{"metrics": [4], "dimensions": ["Chrome"]}]
    assert answer["meta"] == {"total_rows": 3}
    body["pagination"] = {"offset": 5, "limit": 1}  # past the end
    assert query(*site, body) | {"query": None} == {
        "results": [],
        "meta": {"total_rows": 3},
        "query": None,
    }


def test_goals_conversion_rate_and_revenue(site):
    server, project = site
    headers = read_headers(project)
    events = [
        {
            "type": "track",
            "event": "Purchase",
            "visitor_id": "example-0",
            "timestamp": "2021-01-07T00:05:00Z",
            "revenue_amount": 20.5,
            "revenue_currency": "EUR",
        },
        {
            "type": "track",
            "event": "Purchase",
            "visitor_id": "example-0",
            "timestamp": "2021-01-07T00:06:00Z",
            "revenue_amount": 9.5,
            "revenue_currency": "EUR",
        },
    ]
    assert post_batch(server, project, events).status_code == 202
    goal = {"event_name": "Purchase", "currency": "EUR"}
    created = httpx.post(f"{server.url}/api/v1/goals", json=goal, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["goal_type"] == "event"
    again = httpx.post(f"{server.url}/api/v1/goals", json=goal, headers=headers)
    assert again.status_code == 400 and "exists" in again.json()["error"]
    listed = httpx.get(f"{server.url}/api/v1/goals", headers=headers).json()["goals"]
    assert [g["display_name"] for g in listed] == ["Purchase"]
    body = {
        "metrics": ["visitors", "events", "conversion_rate", "total_revenue", "average_revenue"],
        "date_range": ["2021-01-07", "2021-01-07"],
        "dimensions": ["event:goal"],
    }
    answer = wait_for(lambda: (a := query(*site, body))["results"] and a, 30)
    # 2 visitors that day (example-0 and example-3), one converted: 50 %
    assert answer["results"] == [
        {
            "dimensions": ["Purchase"],
            "metrics": [
                1,
                2,
                50.0,
                {"value": 30.0, "currency": "EUR", "short": "€30.00", "long": "€30.00"},
                {"value": 15.0, "currency": "EUR", "short": "€15.00", "long": "€15.00"},
            ],
        }
    ]
    unknown = {
        "metrics": ["visitors"],
        "date_range": "7d",
        "filters": [["is", "event:goal", ["Nope"]]],
    }
    assert query(*site, unknown, 400) == {
        "error": "The goal `Nope` is not configured for this site."
    }
    goal_id = listed[0]["id"]
    gone = httpx.delete(f"{server.url}/api/v1/goals/{goal_id}", headers=headers)
    assert gone.status_code == 200
    assert httpx.get(f"{server.url}/api/v1/goals", headers=headers).json()["goals"] == []
    assert httpx.delete(f"{server.url}/api/v1/goals/{goal_id}", headers=headers).status_code == 404


def test_time_on_page(site):
    """/a at 00:00, /b at 00:01, /a at 00:03, then a custom event: /a 60 s (its last view ends
    nothing), /b 120 s; another visit's single view of /b has no next page."""
    server, project = site
    pages = [("t-1", "/a", "00:00:00"), ("t-1", "/b", "00:01:00"), ("t-1", "/a", "00:03:00"),
             ("t-2", "/b", "00:00:30")]  # fmt: skip
    events = [
        {"type": "page", "visitor_id": v, "timestamp": f"2024-05-01T{at}Z",
         "context": {"page": {"url": f"https://dummy.site{path}"}}}
        for v, path, at in pages
    ] + [{"type": "track", "event": "Done", "visitor_id": "t-1",
          "timestamp": "2024-05-01T00:04:00Z",
          "context": {"page": {"url": "https://dummy.site/a"}}}]  # fmt: skip
    assert post_batch(server, project, events).status_code == 202
    body = {"metrics": ["visitors", "time_on_page"], "date_range": ["2024-05-01", "2024-05-01"],
            "dimensions": ["event:page"], "order_by": [["time_on_page", "desc"]]}  # fmt: skip
    answer = wait_for(lambda: len((a := query(*site, body))["results"]) == 2 and a, 30)
    assert answer["results"] == [
        {"metrics": [2, 120], "dimensions": ["/b"]},
        {"metrics": [1, 60], "dimensions": ["/a"]},
    ]


def test_realtime_visitors(site):
    server, project = site
    recent = [{"type": "page", "visitor_id": f"now-{i}"} for i in range(3)]
    assert post_batch(server, project, recent).status_code == 202
    url = f"{server.url}/api/v1/stats/realtime/visitors"
    params = {"site_id": project["project_id"]}

    def visitors():
        return httpx.get(url, params=params, headers=read_headers(project)).json()

    assert wait_for(lambda: visitors() == 3, 30), visitors()
