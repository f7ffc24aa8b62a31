"""Issue 16, item 1: what ``202`` acknowledged is readable, whoever sent it.

Raw reads (``/v1/events``, ``/v1/sessions``, Kitbase ``/sdk/v1/logs``, the privacy dashboard's
``/api/v1/events``) return every event by default, bots included; ``is_bot`` is an ordinary
filter. One embedded server (with the default sink flush interval, so "visible within 2 s at idle"
is measured as shipped) serves every test here; the last one restarts it.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pipeline.settings import Settings
from tests.integration.server import Server, cli

ADMIN = "admin-token-for-read-tests"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE_MS = 60_000
# The contract is 2 s at idle; CI runs the whole suite on 2 cores, so the test allows twice that
# and prints what it measured.
VISIBLE_WITHIN_S = 2.0
CI_MARGIN = 2.0
DEFAULT_FLUSH = str(Settings.model_fields["sink_flush_seconds"].default)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
# (user agent, is_bot, device_type, browser) as the enrichment must judge them.
AGENTS = (
    (CHROME, False, "desktop", "Chrome"),
    (IPHONE, False, "mobile", "Mobile Safari"),
    (GOOGLEBOT, True, "bot", "Googlebot"),
    (BINGBOT, True, "bot", "bingbot"),
    ("Python-urllib/3.11", False, "other", "Python-urllib"),
    ("python-requests/2.31.0", False, "other", "Python Requests"),
    ("Java/17.0.2", False, "other", "Java"),
    ("Go-http-client/1.1", False, "other", "Go-http-client"),
)


# --- the server and how to talk to it ---------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Started on an empty data dir, so it makes the first-start (bootstrap) project; the tests
    make the others through the admin API, ``POST /api/v1/websites`` and (while it is
    stopped) ``trackhouse projects create``."""
    data_dir = tmp_path_factory.mktemp("reads") / "data"
    running = Server(
        data_dir,
        env={
            "TRACKHOUSE_ADMIN_TOKEN": ADMIN,
            "TRACKHOUSE_BOOTSTRAP_PROJECT": "first-start",
            "TRACKHOUSE_SINK_FLUSH_SECONDS": DEFAULT_FLUSH,
        },
    )
    running.start()
    running.first_project = bootstrap_project(running)
    yield running
    assert running.stop() == 0, running.log()


def bootstrap_project(server: Server) -> dict[str, str]:
    """The keys the first start printed (once) to its log."""
    found = re.search(r"write key: (thw_\S+) secret key: (ths_\S+)", server.log())
    assert found, server.log()
    return {"write_key": found[1], "secret_key": found[2]}


def admin_project(server: Server, name: str) -> dict[str, str]:
    response = httpx.post(
        f"{server.url}/admin/v1/projects", json={"name": name}, headers=ADMIN_HEADERS
    )
    assert response.status_code == 201, response.text
    return response.json()


def website_project(server: Server, name: str) -> dict[str, str]:
    body = {"name": name, "domain": f"{name}.test"}
    response = httpx.post(f"{server.url}/api/v1/websites", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.text
    site = response.json()
    return {
        "write_key": site["writeKey"],
        "secret_key": site["secretKey"],
        "website_id": site["id"],
        "tracking_code": site["trackingCode"],
    }


def urllib_post(url: str, body: Any, key: str) -> tuple[int, dict[str, Any]]:
    """A POST as a backend using only the standard library sends it (``Python-urllib/3.x``)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json",
                                                      "X-API-Key": key}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def get(server: Server, path: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = httpx.get(server.url + path, params=params, headers=headers, timeout=10)
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


def secret(project: dict[str, str]) -> dict[str, str]:
    return {"X-API-Key": project["secret_key"]}


def seconds_until(predicate: Callable[[], bool], timeout: float = 30.0) -> float:
    """Seconds until ``predicate()`` holds (polled every 50 ms); fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "never became visible"
        time.sleep(0.05)
    return time.monotonic() - started


def readable_everywhere(server: Server, project: dict[str, str], visitor: str) -> Callable:
    """Whether ``visitor``'s one event shows in every raw read route of its project."""

    def check() -> bool:
        events = get(server, "/v1/events", secret(project), visitor_id=visitor)["events"]
        sessions = get(server, "/v1/sessions", secret(project), visitor_id=visitor)["sessions"]
        logs = get(server, "/sdk/v1/logs", secret(project), limit=1000)["logs"]
        seen = [len(events) == 1, len(sessions) == 1, any(log["anonymous_id"] == visitor
                                                          for log in logs)]  # fmt: skip
        if "tracking_code" in project:
            site_events = get(
                server, "/api/v1/events", secret(project),
                trackingCode=project["tracking_code"], limit=1000,
            )["events"]  # fmt: skip
            seen.append(any(e["visitorId"] == visitor for e in site_events))
        return all(seen)

    return check


def send_with_urllib(server: Server, project: dict[str, str]) -> str:
    """One event from a standard-library backend (its own User-Agent); returns the visitor."""
    visitor = f"vis_{uuid.uuid4().hex}"
    event: dict[str, Any] = {"event": "order_paid", "visitor_id": visitor}
    if "website_id" in project:
        event["channel"] = project["website_id"]
    status, body = urllib_post(f"{server.url}/v1/events", event, project["write_key"])
    assert status == 202, body
    return visitor


# --- the reproduction ---------------------------------------------------------------------------


def test_an_event_sent_with_urllib_is_readable(server):
    project = server.first_project
    visitor = send_with_urllib(server, project)
    took = seconds_until(readable_everywhere(server, project, visitor))
    [row] = get(server, "/v1/events", secret(project), visitor_id=visitor)["events"]
    # a server-side sender is not a crawler
    assert (row["browser"], row["is_bot"], row["device_type"]) == ("Python-urllib", False, "other")
    print(f"urllib event readable on every route after {took:.2f} s")
    assert took < VISIBLE_WITHIN_S * CI_MARGIN


def test_bot_events_are_in_raw_reads_by_default_and_is_bot_filters(server):
    project = server.first_project
    visitor = f"vis_{uuid.uuid4().hex}"
    events = [
        {"event": "human", "visitor_id": visitor, "timestamp": T0,
         "context": {"user_agent": CHROME}},
        {"event": "crawl", "visitor_id": visitor, "timestamp": T0 + 1000,
         "context": {"user_agent": GOOGLEBOT}},
    ]  # fmt: skip
    # the sender's own User-Agent is a crawler's: the event's context decides
    response = httpx.post(
        f"{server.url}/v1/batch", json={"events": events},
        headers={"X-API-Key": project["write_key"], "User-Agent": BINGBOT},
    )  # fmt: skip
    assert response.status_code == 202, response.text

    def names(path: str = "/v1/events", key: str = "events", **params: Any) -> list[str]:
        rows = get(server, path, secret(project), visitor_id=visitor, **params)[key]
        return sorted(r.get("event", r.get("device_type")) for r in rows)

    seconds_until(lambda: names() == ["crawl", "human"])
    assert names(is_bot="true") == ["crawl"]
    assert names(is_bot="false") == ["human"]
    assert names(include_bots="false") == ["human"]  # the older switch still works
    assert names(include_bots="true") == ["crawl", "human"]
    assert names("/v1/sessions", "sessions") == ["desktop"]  # the session's first event: Chrome
    assert names("/v1/sessions", "sessions", is_bot="false") == ["desktop"]
    assert names("/v1/sessions", "sessions", is_bot="true") == []
    bad = httpx.get(
        f"{server.url}/v1/events", params={"is_bot": "maybe"}, headers=secret(project)
    )
    assert bad.status_code == 422 and bad.json()["field"] == "is_bot"


# --- every way a project is made, and a restart -------------------------------------------------


def test_visible_within_two_seconds_however_the_project_was_made_and_after_a_restart(server):
    projects = {
        "first start": server.first_project,
        "admin API": admin_project(server, "admin"),
        "POST /api/v1/websites": website_project(server, "site"),
    }
    visitors = {}
    for how, project in projects.items():
        visitors[how] = send_with_urllib(server, project)
        took = seconds_until(readable_everywhere(server, project, visitors[how]))
        print(f"{how}: readable on every route after {took:.2f} s")
        assert took < VISIBLE_WITHIN_S * CI_MARGIN, how

    assert server.stop() == 0, server.log()
    projects["projects create"] = cli(server.data_dir, "projects", "create", "cli")
    server.start()
    for how, project in projects.items():
        if how in visitors:
            assert readable_everywhere(server, project, visitors[how])(), f"{how}: lost"
        visitor = send_with_urllib(server, project)
        took = seconds_until(readable_everywhere(server, project, visitor))
        print(f"{how}, after a restart: readable on every route after {took:.2f} s")
        assert took < VISIBLE_WITHIN_S * CI_MARGIN, how
