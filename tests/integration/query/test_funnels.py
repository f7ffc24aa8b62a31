"""``POST /v1/funnels`` against a running embedded server (real chDB): every count is checked
against the plain-Python reference (``tests/analytics_oracle.py``) over the same random events,
for many random funnels (steps, property filters, windows, breakdowns, counting, bots)."""

from __future__ import annotations

import random
from datetime import date

import httpx
import pytest

from tests.analytics_data import EVENTS, PATHS, generate, load
from tests.analytics_oracle import funnel
from tests.integration.helpers import key_headers, read_headers

SEEDS = (11, 23)
RANGE = (date(2026, 10, 19), date(2026, 11, 29))


@pytest.fixture(scope="module")
def loaded(embedded):
    """Both projects of the server, each with its own random event set."""
    sets = []
    for project, seed in zip(embedded.projects, SEEDS, strict=True):
        events = generate(seed)
        load(embedded.url, key_headers(project), read_headers(project), events)
        sets.append((project, events))
    return embedded, sets


def ask(server, project, body):
    return httpx.post(f"{server.url}/v1/funnels", json=body, headers=read_headers(project))


def random_step(rng: random.Random) -> dict:
    if rng.random() < 0.4:
        step = {"page": rng.choice([*PATHS, "/pricing*", "/blog/*", "/blog/**", "/*", "/**"])}
    else:
        step = {"event": rng.choice([*EVENTS, "identify"])}
    if rng.random() < 0.3:
        key = rng.choice(("plan", "n", "beta"))
        value = {"plan": rng.choice(("pro", "free")), "n": rng.randint(1, 3)}.get(
            key, rng.random() < 0.5
        )
        step["filters"] = {key: value}
    return step


def check(server, project, events, body, window_ms):
    answer = ask(server, project, body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    first, last = (date.fromisoformat(d) for d in body.get("date_range", ["", ""]))
    expected = funnel(
        events,
        body["steps"],
        window_ms,
        first,
        last,
        body.get("counting", "users"),
        body.get("breakdown"),
        body.get("include_bots", False),
        body.get("breakdown_limit", 10),
    )
    if body.get("breakdown"):
        groups = [(r["value"], [s["count"] for s in r["steps"]]) for r in got["results"]]
        assert groups == expected, body
    else:
        assert [s["count"] for s in got["steps"]] == expected[0][1], body
    return got


def test_random_funnels_match_the_reference(loaded):
    server, sets = loaded
    rng = random.Random(5)
    converted = 0
    for _ in range(40):
        project, events = rng.choice(sets)
        steps = [random_step(rng) for _ in range(rng.randint(2, 4))]
        seconds = rng.choice((60, 3600, 6 * 3600, 86400, 14 * 86400))
        first = date(2026, 10, rng.randint(19, 31))
        body = {
            "steps": steps,
            "window": seconds,
            "date_range": [first.isoformat(), date(2026, 11, rng.randint(5, 29)).isoformat()],
            "counting": rng.choice(("users", "visitors")),
            "include_bots": rng.random() < 0.3,
        }
        if rng.random() < 0.4:
            body["breakdown"] = rng.choice(("browser", "utm_source"))
            body["breakdown_limit"] = rng.randint(1, 3)
        got = check(server, project, events, body, seconds * 1000)
        groups = got["results"] if "breakdown" in body else [got]
        steps_of = [group["steps"] for group in groups]
        converted += any(steps[1]["count"] for steps in steps_of)
    assert converted >= 5, converted  # the random funnels are not all empty


def test_a_common_funnel_has_people_at_every_step_and_consistent_rates(loaded):
    server, [(project, events), _] = loaded
    body = {
        "steps": [{"page": "/**"}, {"event": "cta"}, {"page": "/**"}],
        "window": "14d",
        "date_range": [d.isoformat() for d in RANGE],
    }
    got = check(server, project, events, body, 14 * 86_400_000)
    counts = [s["count"] for s in got["steps"]]
    assert counts[0] > counts[-1] > 0, counts  # the data set makes a non-trivial funnel
    second = got["steps"][1]
    assert second["conversion_rate"] == round(100 * counts[1] / counts[0], 2)
    assert second["dropoff"] == counts[0] - counts[1]
    assert got["window_seconds"] == 14 * 86400 and got["date_range"] == body["date_range"]


def test_a_visitor_who_signs_up_later_is_one_person(embedded):
    """Anonymous pageviews, then the signup as the user (events_resolved's rule): one person
    converts; counted by visitor it is the same, and a second device of that user adds no one."""
    project = embedded.projects[1]
    t0 = 1_764_000_000_000  # 2025-11-24
    day = "2025-11-24"
    batch = [
        {"type": "page", "visitor_id": "anon-x", "timestamp": t0,
         "context": {"page": {"url": "https://s.example/pricing"}}},
        {"type": "identify", "visitor_id": "anon-x", "user_id": "person-x", "timestamp": t0 + 1000},
        {"event": "bought", "user_id": "person-x", "timestamp": t0 + 2000},
        {"type": "page", "visitor_id": "anon-y", "user_id": "person-x", "timestamp": t0 + 3000,
         "context": {"page": {"url": "https://s.example/pricing"}}},
    ]  # fmt: skip
    response = httpx.post(f"{embedded.url}/v1/batch", json={"events": batch},
                          headers=key_headers(project))  # fmt: skip
    assert response.status_code == 202, response.text
    body = {"steps": [{"page": "/pricing"}, {"event": "bought"}], "date_range": [day, day]}

    def counts(counting):
        answer = ask(embedded, project, body | {"counting": counting})
        assert answer.status_code == 200, answer.text
        return [s["count"] for s in answer.json()["steps"]]

    from tests.integration.server import wait_for

    assert wait_for(lambda: counts("users") == [1, 1], 30), counts("users")
    # by visitor: two browsers saw the page; the purchase came from the server (no visitor: it
    # counts as "user:person-x"), which saw no page
    assert counts("visitors") == [2, 0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "steps"),
        ({"steps": [{"event": "a"}]}, "steps"),
        ({"steps": [{"event": "a"}, {"page": "/x", "event": "b"}]}, "steps.1"),
        ({"steps": [{"event": "a"}, {"nope": 1}]}, "steps.1.nope"),
        ({"steps": [{"event": "a"}, {"event": ""}]}, "steps.1.event"),
        ({"steps": [{"event": "a"}, {"event": "b", "filters": {"k": [1]}}]}, "steps.1.filters.k"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "window": "soon"}, "window"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "window": 0}, "window"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "date_range": "fortnight"}, "date_range"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "date_range": ["2026-11-02", "x"]},
         "date_range.1"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "breakdown": "shoe_size"}, "breakdown"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "counting": "sessions"}, "counting"),
        ({"steps": [{"event": "a"}, {"event": "b"}], "colour": 1}, "colour"),
    ],
)  # fmt: skip
def test_bad_funnels_are_400_naming_the_field(embedded, body, field):
    answer = ask(embedded, embedded.projects[0], body)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "invalid_query", "message": answer.json()["message"],
                             "field": field}  # fmt: skip


def test_funnels_need_the_secret_key(embedded):
    body = {"steps": [{"event": "a"}, {"event": "b"}]}
    url = f"{embedded.url}/v1/funnels"
    assert httpx.post(url, json=body).status_code == 401
    write_only = httpx.post(url, json=body, headers=key_headers(embedded.projects[0]))
    assert write_only.status_code == 403
    broken = httpx.post(url, content=b"{", headers=read_headers(embedded.projects[0]))
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
