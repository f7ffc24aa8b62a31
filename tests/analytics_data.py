"""Random event sets for the analytics tests (funnels, retention, revenue, user profiles): what a
test posts to ``/v1/batch``, and the same events as plain records for the Python reference
computations in ``tests/analytics_oracle.py``.

Every event gets a distinct millisecond timestamp (funnels' step order is then unambiguous) and
an explicit ``session_id`` (a new one after 30 minutes of quiet), so the oracle needs no
sessionization. Some visitors sign up (an ``identify``, then their events carry the user id),
some users have two visitors (devices), some events carry a provisional user id (== the visitor
id), some visitors are bots (Googlebot's user agent)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000
START_MS = int(datetime(2026, 10, 19, tzinfo=UTC).timestamp() * 1000)  # a Monday
DAYS = 42  # up to 2026-11-29 (nothing later: the edge moves future timestamps to "now")
END_MS = START_MS + DAYS * DAY_MS
SESSION_GAP_MS = 30 * 60_000
PATHS = ("/", "/pricing", "/pricing/pro", "/blog/a", "/blog/b/c", "/signup")
EVENTS = ("signup", "cta", "purchase", "subscribe", "subscription_cancelled")
SOURCES = ("google", "newsletter", "")
AGENTS = {
    "Chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    ),
    "Mobile Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    ),
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
}


@dataclass
class Event:
    """One generated event, as stored (the columns the oracle reads)."""

    visitor_id: str
    user_id: str  # as sent ('' when none)
    type: str
    event: str
    path: str
    timestamp: int  # epoch ms
    session_id: str
    browser: str
    utm_source: str
    properties: dict[str, Any] = field(default_factory=dict)
    revenue_amount: float | None = None
    revenue_currency: str = ""
    product_id: str = ""
    traits: dict[str, Any] = field(default_factory=dict)

    @property
    def is_bot(self) -> bool:
        return self.browser == "Googlebot"

    def body(self) -> dict[str, Any]:
        """The ``/v1/batch`` item."""
        query = f"?utm_source={self.utm_source}" if self.utm_source else ""
        out: dict[str, Any] = {
            "type": self.type,
            "visitor_id": self.visitor_id,
            "timestamp": self.timestamp,
            "session_id": self.session_id,
            "message_id": f"m-{self.visitor_id}-{self.timestamp}",
            "properties": self.properties,
            "context": {
                "user_agent": AGENTS[self.browser],
                "page": {"url": f"https://shop.example{self.path}{query}"},
            },
        }
        if self.type != "page":
            out["event"] = self.event
        if self.user_id:
            out["user_id"] = self.user_id
        if self.traits:
            out["traits"] = self.traits
        if self.product_id:
            out["product_id"] = self.product_id
        if self.revenue_amount is not None:
            out["revenue_amount"] = self.revenue_amount
            out["revenue_currency"] = self.revenue_currency
        return out


def _properties(rng: random.Random, name: str) -> dict[str, Any]:
    props: dict[str, Any] = {"plan": rng.choice(("pro", "free")), "n": rng.randint(1, 3)}
    if rng.random() < 0.5:
        props["beta"] = rng.random() < 0.5
    if name == "subscribe":
        props["interval"] = rng.choice(("month", "monthly", "year", "week"))
    return props


def generate(seed: int, visitors: int = 40) -> list[Event]:
    """A random event set (sorted by time), reproducible from ``seed``."""
    rng = random.Random(seed)
    used: set[int] = set()
    events: list[Event] = []
    users = [f"user-{seed}-{n}" for n in range(visitors // 3)]
    for index in range(visitors):
        visitor = f"vis-{seed}-{index}"
        browser = rng.choices(list(AGENTS), weights=(6, 3, 1))[0]
        source = rng.choice(SOURCES)
        user = rng.choice(users) if rng.random() < 0.4 else ""
        provisional = not user and rng.random() < 0.15
        first = START_MS + rng.randrange(DAYS * DAY_MS)
        times = sorted(
            min(first + rng.choice((0, rng.randrange(3 * 3_600_000), rng.randrange(20 * DAY_MS))),
                END_MS - 1000 - rng.randrange(DAY_MS))
            for _ in range(rng.randint(1, 12))
        )  # fmt: skip
        signup_at = rng.choice(times) if user else None
        session, last = 0, None
        for moment in times:
            while moment in used:
                moment += 1
            used.add(moment)
            if last is not None and moment - last > SESSION_GAP_MS:
                session += 1
            last = moment
            kind = rng.random()
            known = user if signup_at is not None and moment > signup_at else ""
            if provisional:
                known = visitor
            common = {
                "visitor_id": visitor,
                "timestamp": moment,
                "session_id": f"{visitor}-s{session}",
                "browser": browser,
                "utm_source": source,
            }
            if moment == signup_at:
                traits = {"device": visitor, "tier": rng.choice(("gold", "silver"))}
                events.append(Event(user_id=user, type="identify", event="identify",
                                    path="/signup", traits=traits, **common))  # fmt: skip
            elif kind < 0.5:
                events.append(Event(user_id=known, type="page", event="pageview",
                                    path=rng.choice(PATHS), **common))  # fmt: skip
            else:
                name = rng.choice(EVENTS)
                event = Event(user_id=known, type="track", event=name, path="/app",
                              properties=_properties(rng, name), **common)  # fmt: skip
                if name in ("purchase", "subscribe"):
                    event.revenue_amount = round(rng.uniform(1, 200), 2)
                    event.revenue_currency = rng.choice(("USD", "USD", "EUR"))
                    event.product_id = rng.choice(("p1", "p2", ""))
                elif name == "subscription_cancelled":
                    event.product_id = rng.choice(("p1", "p2", ""))
                events.append(event)
    return sorted(events, key=lambda e: e.timestamp)


def load(url: str, headers: dict[str, str], read: dict[str, str], events: list[Event]) -> None:
    """Post ``events`` (in time order, 500 a batch) and wait until the read API lists them all
    and their sessions."""
    import httpx

    from tests.integration.server import wait_for

    bodies = [e.body() for e in events]
    for offset in range(0, len(bodies), 500):
        response = httpx.post(
            f"{url}/v1/batch", json={"events": bodies[offset : offset + 500]}, headers=headers
        )
        assert response.status_code == 202 and not response.json()["errors"], response.text

    def total(path: str) -> int:
        answer = httpx.get(f"{url}{path}", params={"limit": 1}, headers=read)
        return answer.json()["pagination"]["total"] if answer.status_code == 200 else -1

    sessions = len({e.session_id for e in events})
    assert wait_for(lambda: total("/v1/events") >= len(events), 60), total("/v1/events")
    assert wait_for(lambda: total("/v1/sessions") >= sessions, 60), total("/v1/sessions")
