"""``GET /v1/revenue`` against a running embedded server (real chDB): totals, averages, per
event, series, ARPU and MRR per currency checked against the plain-Python reference over the same
random events (subscriptions with monthly/yearly/weekly charges and cancellations)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import httpx
import pytest

from tests.analytics_data import generate, load
from tests.analytics_oracle import day_ms, in_range, revenue
from tests.integration.helpers import key_headers, read_headers

SEEDS = (5, 77)


@pytest.fixture(scope="module")
def loaded(embedded):
    sets = []
    for project, seed in zip(embedded.projects, SEEDS, strict=True):
        events = generate(seed, visitors=70)
        load(embedded.url, key_headers(project), read_headers(project), events)
        sets.append((project, events))
    return embedded, sets


def ask(server, project, **params):
    return httpx.get(f"{server.url}/v1/revenue", params=params, headers=read_headers(project))


def check(server, project, events, first, last, interval="day", bots=False):
    params = {"date_range": f"{first},{last}", "interval": interval}
    if bots:
        params["include_bots"] = "true"
    answer = ask(server, project, **params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = revenue(events, first, last, bots)
    assert [c["currency"] for c in body["currencies"]] == sorted(expected)
    for got in body["currencies"]:
        want = expected[got["currency"]]
        assert got["total"] == pytest.approx(want["total"], abs=1e-6)
        assert got["events"] == want["events"]
        assert got["paying_users"] == len(want["payers"])
        if want["events"]:
            assert got["average"] == pytest.approx(want["total"] / want["events"], abs=1e-6)
            assert got["arpu"] == pytest.approx(want["total"] / len(want["payers"]), abs=1e-6)
        assert got["mrr"] == pytest.approx(want["mrr"], abs=1e-6)
        assert got["active_subscriptions"] == want["subscriptions"]
        assert got["subscribers"] == len(want["subscribers"])
        by_event = {e["event"]: (e["total"], e["events"]) for e in got["by_event"]}
        assert by_event.keys() == want["by_event"].keys()
        for name, amounts in want["by_event"].items():
            assert by_event[name][0] == pytest.approx(sum(amounts), abs=1e-6)
            assert by_event[name][1] == len(amounts)
        assert sum(p["events"] for p in got["series"]) == want["events"]
    return body


def test_random_ranges_match_the_reference(loaded):
    server, sets = loaded
    rng = random.Random(3)
    for _ in range(16):
        project, events = rng.choice(sets)
        first = date(2026, 10, 19) + timedelta(days=rng.randint(0, 30))
        last = first + timedelta(days=rng.randint(0, 30))
        check(server, project, events, first, last, rng.choice(("day", "week", "month")),
              rng.random() < 0.3)  # fmt: skip


def test_the_series_fills_every_day_and_adds_up(loaded):
    server, [(project, events), _] = loaded
    first, last = date(2026, 11, 1), date(2026, 11, 29)
    body = check(server, project, events, first, last)
    assert body["interval"] == "day" and body["date_range"] == ["2026-11-01", "2026-11-29"]
    assert body["currencies"], "the data set has revenue"
    for currency in body["currencies"]:
        assert [p["date"] for p in currency["series"]] == [
            (first + timedelta(days=n)).isoformat() for n in range(29)
        ]
        for point in currency["series"]:
            day = date.fromisoformat(point["date"])
            paid = [e.revenue_amount for e in events if e.revenue_amount is not None
                    and e.revenue_currency == currency["currency"]
                    and in_range(e, day, day, False)]  # fmt: skip
            assert point["total"] == pytest.approx(sum(paid), abs=1e-6)
    assert any(c["mrr"] > 0 for c in body["currencies"])  # subscriptions are active


def test_mrr_follows_charges_and_cancellations(embedded):
    """One yearly plan (1200 -> 100 a month), one monthly (30) cancelled later, one weekly (10
    -> 43.33), in one project's own currency."""
    project = embedded.projects[1]
    t0 = day_ms(date(2025, 3, 3))
    sub = {"event": "subscribe", "revenue_currency": "GBP", "context": {"user_agent": "curl/8"}}
    batch = [
        sub | {"user_id": "a", "timestamp": t0, "revenue_amount": 1200.0, "product_id": "y",
               "properties": {"interval": "yearly"}},
        sub | {"user_id": "b", "timestamp": t0, "revenue_amount": 30.0, "product_id": "m",
               "properties": {"interval": "month"}},
        sub | {"user_id": "c", "timestamp": t0 + 86_400_000, "revenue_amount": 10.0,
               "properties": {"interval": "week"}},
        {"event": "subscription_cancelled", "user_id": "b", "product_id": "m",
         "timestamp": t0 + 10 * 86_400_000},
    ]  # fmt: skip
    for n, event in enumerate(batch):
        event["message_id"] = f"gbp-{n}"
    for _ in range(2):  # delivered twice (a client retry): the same event ids, kept once
        response = httpx.post(f"{embedded.url}/v1/batch", json={"events": batch},
                              headers=key_headers(project))  # fmt: skip
        assert response.status_code == 202 and not response.json()["errors"], response.text

    def gbp(first, last):
        answer = ask(embedded, project, date_range=f"{first},{last}")
        assert answer.status_code == 200, answer.text
        found = [c for c in answer.json()["currencies"] if c["currency"] == "GBP"]
        return found[0] if found else None

    from tests.integration.server import wait_for

    assert wait_for(lambda: (g := gbp("2025-03-01", "2025-03-05")) and g["events"] == 3, 30)
    early = gbp("2025-03-01", "2025-03-05")  # all three active
    assert early["mrr"] == pytest.approx(100 + 30 + 10 * 52 / 12)
    assert (early["active_subscriptions"], early["subscribers"]) == (3, 3)
    assert early["total"] == 1240 and early["paying_users"] == 3
    assert early["arpu"] == pytest.approx(1240 / 3)
    later = gbp("2025-03-01", "2025-03-20")  # b cancelled, c's week ran out
    assert later["mrr"] == pytest.approx(100) and later["active_subscriptions"] == 1
    next_year = gbp("2026-03-03", "2026-03-03")  # a's year ran out on 2026-03-03 00:00
    assert next_year is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "hour"}, "interval"),
        ({"date_range": "2026-11-05,2026-11-01"}, "date_range"),
        ({"date_range": "2026-11-05"}, "date_range"),
        ({"date_range": "0d"}, "date_range"),
        ({"currency": "USD"}, "currency"),
    ],
)
def test_bad_parameters_are_400_naming_them(embedded, params, field):
    answer = ask(embedded, embedded.projects[0], **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_query" and answer.json()["field"] == field
