"""The dashboard's browser tests' shared parts: its build, an embedded server holding fixture
visits whose figures the tests compute themselves, Chromium tabs, sign-in and screenshots."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.browser_site import DESKTOP_CHROME, chromium, npm_build
from tests.integration.helpers import CHROME_WINDOWS, IPHONE, key_headers, read_headers
from tests.integration.server import Server, cli, wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboard"
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
ADMIN = "admin-token-for-the-dashboard-test"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
REFERRERS = {  # referrer -> the source Plausible's rules name
    "": "Direct / None",
    "https://www.google.com/search?q=x": "Google",
    "https://t.co/abc": "Twitter",
    "https://news.ycombinator.com/item?id=1": "Hacker News",
}
PATHS = ["/", "/pricing", "/blog", "/blog/launch", "/docs"]
IPS = ["81.2.69.142", "8.8.8.8"]  # GB (London), US (Mountain View) in DB-IP City Lite
VISITORS = 24


def fixture_visits(seed: int = 20) -> list[dict[str, Any]]:
    """One visit per visitor, 1-2 days ago: pages 40 s apart from "/", sometimes a Signup."""
    rng = random.Random(seed)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(2)
    visits = []
    for v in range(VISITORS):
        referrer = rng.choice(list(REFERRERS))
        agent = rng.choice([CHROME_WINDOWS, IPHONE, FIREFOX])
        moment = day + timedelta(minutes=rng.randrange(0, 36 * 60))
        paths = ["/"] + [rng.choice(PATHS) for _ in range(rng.randint(0, 3))]
        events: list[dict[str, Any]] = []
        for i, path in enumerate(paths):
            page = {"url": f"https://site.test{path}"}
            if i == 0 and referrer:
                page["referrer"] = referrer
            events.append({"type": "page", "context": {"user_agent": agent, "page": page}})
        if rng.random() < 0.4:
            events.append({"type": "track", "event": "Signup", "properties": {"plan": "pro"}})
        for i, event in enumerate(events):
            event["visitor_id"] = f"visitor-{v}"
            event["timestamp"] = int((moment + timedelta(seconds=40 * i)).timestamp() * 1000)
            event.setdefault("context", {"user_agent": agent})
            if v == 0:
                event["user_id"] = "user-ada"
        if v == 0:
            events.append({**events[-1], "type": "identify", "traits": {"plan": "pro"}})
            events[-1].pop("event", None)
        visits.append({"events": events, "ip": IPS[v % 2], "source": REFERRERS[referrer]})
    return visits


@pytest.fixture(scope="module")
def built_dashboard():
    """The fresh dashboard build, by npm."""
    return npm_build(DASHBOARD)


@pytest.fixture(scope="module")
def board(tmp_path_factory, built_dashboard):
    """An embedded server (admin token on) with one project holding the fixture visits."""
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    project = cli(data_dir, "projects", "create", "Acme shop")
    server = Server(data_dir, env={"TRACKHOUSE_ADMIN_TOKEN": ADMIN}).start()
    visits = fixture_visits()
    for visit in visits:
        headers = {**key_headers(project), "X-Forwarded-For": visit["ip"]}
        response = httpx.post(
            f"{server.url}/v1/batch", json={"events": visit["events"]}, headers=headers
        )
        assert response.status_code == 202, response.text
    total = sum(len(v["events"]) for v in visits)

    def stored() -> bool:
        found = httpx.get(
            f"{server.url}/v1/sessions", params={"limit": 1000}, headers=read_headers(project)
        ).json()["sessions"]
        return len(found) == VISITORS and sum(s["events"] for s in found) == total

    assert wait_for(stored, 60), "the fixture visits did not all arrive"
    goal = httpx.post(
        f"{server.url}/api/v1/goals", json={"event_name": "Signup"}, headers=read_headers(project)
    )
    assert goal.status_code == 201, goal.text
    server.project, server.visits = project, visits
    yield server
    assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def browser(built_dashboard):
    with chromium() as browser:
        yield browser


def open_tab(browser, width: int = 1280, height: int = 900, scheme: str = "light"):
    context = browser.new_context(
        user_agent=DESKTOP_CHROME,
        viewport={"width": width, "height": height},
        color_scheme=scheme,
    )
    page = context.new_page()
    page.requested, page.errors = [], []
    page.on("request", lambda request: page.requested.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and page.errors.append(f"{r.status} {r.url}"))
    return page


def sign_in(page, server, key: str, route: str = "#/overview?period=7d") -> None:
    page.goto(f"{server.url}/{route}")
    page.fill("#key", key)
    page.click("button[type=submit]")


def kpi(page, metric: str) -> str:
    return page.inner_text(f"[data-testid=kpi-{metric}]")


def wait_kpi(page, metric: str, value: int) -> None:
    page.wait_for_function(
        "([m, v]) => document.querySelector(`[data-testid=kpi-${m}]`)?.textContent === v",
        arg=[metric, f"{value:,}"],
        timeout=15000,
    )


def shoot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.evaluate("scrollTo(0, 0)")  # else the sticky header shows mid-page in a full-page shot
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def figures(visits: list[dict[str, Any]]) -> dict[str, int]:
    pages = sum(e["type"] == "page" for v in visits for e in v["events"])
    return {"visitors": len(visits), "visits": len(visits), "pageviews": pages}


def assert_local(page, server) -> None:
    """Every request the page made went to the edge's origin (no CDN, no third party), and
    nothing went wrong in it."""
    others = [url for url in page.requested if not url.startswith(server.url + "/")]
    assert page.requested and others == []
    # no script error, no Content-Security-Policy violation, no failed request (but the
    # stream's 404 on an edge without it, which the feed answers by polling)
    expected = ("Failed to load resource", f"404 {server.url}/v1/stream")
    assert [e for e in page.errors if not e.startswith(expected)] == []
