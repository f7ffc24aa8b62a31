"""``GET /v1/users/{id}`` against a running embedded server (real chDB): counts, seen times,
visitors, first-touch attribution, traits, revenue, sessions and recent events checked against
the plain-Python reference over random events; unknown and erased users are 404."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.analytics_data import generate, load
from tests.analytics_oracle import links, profile
from tests.integration.helpers import key_headers, read_headers
from tests.integration.server import Server, cli, wait_for


@pytest.fixture(scope="module")
def loaded(embedded):
    project = embedded.projects[0]
    events = generate(61, visitors=50)
    load(embedded.url, key_headers(project), read_headers(project), events)
    return embedded, project, events


def ask(server, project, user, **params):
    return httpx.get(f"{server.url}/v1/users/{user}", params=params, headers=read_headers(project))


def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_every_user_matches_the_reference(loaded):
    server, project, events = loaded
    users = sorted(set(links(events).values()))
    assert len(users) >= 5
    for user in users:
        answer = ask(server, project, user, limit=3)
        assert answer.status_code == 200, answer.text
        got, want = answer.json(), profile(events, user)
        assert got["user_id"] == user
        assert got["counts"] == {k: want[k] for k in ("events", "pageviews", "sessions")}
        assert (got["first_seen"], got["last_seen"]) == (
            iso(want["first_seen"]), iso(want["last_seen"]))  # fmt: skip
        assert got["visitors"] == want["visitors"]
        assert got["first_touch"]["landing_path"] == want["landing_path"]
        assert got["first_touch"]["utm_source"] == want["utm_source"]
        assert got["traits"] == want["traits"]
        money = {r["currency"]: (r["total"], r["events"]) for r in got["revenue"]}
        assert money.keys() == want["revenue"].keys()
        for currency, (total, count) in want["revenue"].items():
            assert money[currency] == (pytest.approx(total, abs=1e-6), count)
        assert [e["timestamp"] for e in got["recent_events"]] == [
            iso(t) for t in want["recent"][:3]]  # fmt: skip
        assert len(got["sessions"]) == min(3, want["sessions"])
        starts = [s["start"] for s in got["sessions"]]
        assert starts == sorted(starts, reverse=True)
        assert all(s["visitor_id"] in want["visitors"] for s in got["sessions"])


def test_an_unknown_user_is_404_in_the_native_shape(loaded):
    server, project, _ = loaded
    answer = ask(server, project, "nobody-here")
    assert answer.status_code == 404
    assert answer.json() == {"error": "not_found", "message": "no such user in this project",
                             "field": "user_id"}  # fmt: skip


def test_another_projects_user_is_404(loaded):
    server, project, events = loaded
    user = next(iter(links(events).values()))
    assert ask(server, project, user).status_code == 200
    assert ask(server, server.projects[1], user).status_code == 404


@pytest.mark.parametrize(("params", "field"), [({"limit": "0"}, "limit"),
                                              ({"limit": "101"}, "limit"),
                                              ({"page": "2"}, "page")])  # fmt: skip
def test_bad_parameters_are_400(loaded, params, field):
    server, project, events = loaded
    answer = ask(server, project, next(iter(links(events).values())), **params)
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.text


def test_an_erased_user_is_404(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "erasing")
    server = Server(data_dir).start()
    try:
        batch = [
            {"type": "page", "visitor_id": "v-e", "timestamp": 1_764_000_000_000},
            {"type": "identify", "visitor_id": "v-e", "user_id": "gone",
             "traits": {"email": "gone@example.com"}, "timestamp": 1_764_000_001_000},
        ]  # fmt: skip
        response = httpx.post(f"{server.url}/v1/batch", json={"events": batch},
                              headers=key_headers(project))  # fmt: skip
        assert response.status_code == 202
        assert wait_for(lambda: ask(server, project, "gone").status_code == 200, 30)
        assert ask(server, project, "gone").json()["counts"]["events"] == 2
    finally:
        assert server.stop() == 0, server.log()
    cli(data_dir, "users", "delete", "gone", "--project", project["project_id"])
    restarted = Server(data_dir).start()
    try:
        answer = ask(restarted, project, "gone")
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == "not_found"
        # what the user sends after the erasure is new data: a profile of that alone
        again = {"event": "came_back", "user_id": "gone", "timestamp": 1_764_000_009_000}
        response = httpx.post(f"{restarted.url}/v1/events", json=again,
                              headers=key_headers(project))  # fmt: skip
        assert response.status_code == 202, response.text
        assert wait_for(lambda: ask(restarted, project, "gone").status_code == 200, 30)
        body = ask(restarted, project, "gone").json()
        assert body["counts"]["events"] == 1 and body["traits"] == {}
        assert [e["event"] for e in body["recent_events"]] == ["came_back"]
    finally:
        assert restarted.stop() == 0, restarted.log()
