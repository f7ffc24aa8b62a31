"""``GET /v1/retention`` against a running embedded server (real chDB): the cohort sizes and
every returning count checked against the plain-Python reference over the same random events."""

from __future__ import annotations

import random
from datetime import date

import httpx
import pytest

from tests.analytics_data import EVENTS, generate, load
from tests.analytics_oracle import retention
from tests.integration.helpers import key_headers, read_headers

SEEDS = (31, 47)


@pytest.fixture(scope="module")
def loaded(embedded):
    sets = []
    for project, seed in zip(embedded.projects, SEEDS, strict=True):
        events = generate(seed, visitors=60)
        load(embedded.url, key_headers(project), read_headers(project), events)
        sets.append((project, events))
    return embedded, sets


def ask(server, project, **params):
    return httpx.get(f"{server.url}/v1/retention", params=params, headers=read_headers(project))


def test_random_retention_matrices_match_the_reference(loaded):
    server, sets = loaded
    rng = random.Random(8)
    returned = 0
    for _ in range(24):
        project, events = rng.choice(sets)
        period = rng.choice(("week", "day"))
        cohorts = rng.randint(1, 6) if period == "week" else rng.randint(1, 30)
        end = date(2026, 11, rng.randint(1, 30))
        params = {"period": period, "cohorts": cohorts, "end": end.isoformat(),
                  "counting": rng.choice(("users", "visitors")),
                  "include_bots": rng.choice(("true", "false"))}  # fmt: skip
        if rng.random() < 0.3:
            params["first_event"] = rng.choice(("pageview", "identify", "cta"))
        if rng.random() < 0.4:
            params["returning_event"] = rng.choice(EVENTS)
        answer = ask(server, project, **params)
        assert answer.status_code == 200, answer.text
        expected = retention(
            events, period, cohorts, end, params.get("first_event"),
            params.get("returning_event"), params["counting"], params["include_bots"] == "true",
        )  # fmt: skip
        got = [
            (date.fromisoformat(c["cohort"]), [r["count"] for r in c["returning"]])
            for c in answer.json()["cohorts"]
        ]
        assert got == expected, params
        returned += sum(sum(row[1:]) for _, row in expected)
    assert returned > 0  # somebody came back in the random sets


def test_twelve_weeks_by_default_with_percentages(loaded):
    server, [(project, events), _] = loaded
    answer = ask(server, project, end="2026-11-29")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["period"] == "week" and len(body["cohorts"]) == 12
    assert body["date_range"] == ["2026-09-07", "2026-11-29"]
    expected = retention(events, "week", 12, date(2026, 11, 29))
    for cohort, (_, row) in zip(body["cohorts"], expected, strict=True):
        assert cohort["size"] == row[0]
        assert len(cohort["returning"]) == len(row)
        for cell, count in zip(cohort["returning"], row, strict=True):
            assert cell["count"] == count
            assert cell["percentage"] == (round(100 * count / row[0], 2) if row[0] else 0.0)
    assert sum(c["size"] for c in body["cohorts"]) > 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "month"}, "period"),
        ({"cohorts": "0"}, "cohorts"),
        ({"cohorts": "53"}, "cohorts"),
        ({"cohorts": "many"}, "cohorts"),
        ({"end": "yesterday"}, "end"),
        ({"counting": "sessions"}, "counting"),
        ({"include_bots": "maybe"}, "include_bots"),
        ({"returning_event": "x" * 300}, "returning_event.event"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_400_naming_them(embedded, params, field):
    answer = ask(embedded, embedded.projects[0], **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_query" and answer.json()["field"] == field


def test_retention_needs_the_secret_key(embedded):
    assert httpx.get(f"{embedded.url}/v1/retention").status_code == 401
