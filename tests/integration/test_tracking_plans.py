"""Tracking plans enforced end to end, in both runtimes: a plan PUT by API is in force within
``TRACKHOUSE_PLAN_RELOAD_SECONDS``; ``observe`` stores everything and records violations,
``block_unplanned`` and ``block_invalid`` keep what they stop as dead letters (stage
``validate``), which ``dead replay`` re-drives through the validate stage again: stored once
the plan allows them, blocked again while it does not."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.factories import BASE_MS, native_event
from tests.integration.helpers import fetch, post_batch, read_headers
from tests.integration.kafka_worker import start_worker, worker_env
from tests.integration.server import Server, cli, wait_for

pytestmark = pytest.mark.slow
RELOAD = {"TRACKHOUSE_PLAN_RELOAD_SECONDS": "0.2"}
MODES = ("observe", "block_unplanned", "block_invalid")


def plan(mode: str, extra_events: tuple[str, ...] = ()) -> dict:
    events = [
        {
            "name": "Signed Up",
            "properties": {"plan": {"type": "string", "required": True, "enum": ["free", "pro"]}},
        },
        *({"name": name} for name in extra_events),
    ]
    return {"mode": mode, "events": events}


def put_plan(server, project, document) -> dict:
    response = httpx.put(f"{server.url}/v1/plan", json=document, headers=read_headers(project))
    assert response.status_code == 200, response.text
    return response.json()


def violations(server, project) -> list[dict]:
    return fetch(server, project, "/v1/plan/violations")["violations"]


def send_three(server, project, visitor: str) -> None:
    """A valid event, one with a property off the plan, one unplanned."""
    events = [
        native_event(visitor, event="Signed Up", properties={"plan": "pro"}),
        native_event(
            visitor, event="Signed Up", properties={"plan": "gold"}, timestamp=BASE_MS + 1000
        ),
        native_event(visitor, event="Clicked Thing", timestamp=BASE_MS + 2000),
    ]
    response = post_batch(server, project, events)
    assert response.status_code == 202, response.text


def stored_names(server, project, visitor: str) -> list[str]:
    rows = fetch(server, project, visitor_id=visitor, limit=100)["events"]
    return sorted(row["event"] for row in rows)


# What each mode stores of the three events, and which rules it records
STORED = {
    "observe": ["Clicked Thing", "Signed Up", "Signed Up"],
    "block_unplanned": ["Signed Up", "Signed Up"],
    "block_invalid": ["Signed Up"],
}
RULES = [("Clicked Thing", "unplanned_event", ""), ("Signed Up", "not_in_enum", "plan")]
BLOCKED = {"observe": 0, "block_unplanned": 1, "block_invalid": 2}


def enforce_each_mode(server, projects, visitor: str) -> None:
    for mode, project in zip(MODES, projects, strict=True):
        answer = put_plan(server, project, plan(mode))
        assert (answer["version"], answer["mode"]) == (1, mode)
        assert answer["lint"] == []
    time.sleep(2.0)  # ten reload intervals: the pipeline has the plans
    for project in projects:
        send_three(server, project, visitor)
    for mode, project in zip(MODES, projects, strict=True):
        found = wait_for(lambda p=project: len(violations(server, p)) >= 2, 60)
        assert found, (mode, server.log()[-3000:])
        expected = STORED[mode]
        assert wait_for(lambda p=project, e=expected: stored_names(server, p, visitor) == e, 60), (
            mode,
            stored_names(server, project, visitor),
        )
        rows = violations(server, project)
        assert sorted((v["event"], v["rule"], v["property"]) for v in rows) == RULES
        gold = next(v for v in rows if v["rule"] == "not_in_enum")
        assert (gold["got"], gold["plan_version"]) == ("gold", 1)
        assert "'free'" in gold["expected"] and "'pro'" in gold["expected"]


def dead_counted(server, stage: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(f'trackhouse_dead_letters_total{{stage="{stage}"}}'):
            return float(line.split()[-1])
    return 0.0


def check_dead_letters(data_dir, projects, env=None) -> dict[str, list[dict]]:
    dead = {}
    for mode, project in zip(MODES, projects, strict=True):
        letters = cli(
            data_dir, "dead", "list", "--stage", "validate", "--project", project["project_id"],
            env=env,
        )["dead_letters"]  # fmt: skip
        assert len(letters) == BLOCKED[mode], (mode, letters)
        assert all("BlockedByPlan: blocked by tracking plan v1: " in d["reason"] for d in letters)
        dead[mode] = letters
    assert "unplanned_event" in dead["block_unplanned"][0]["reason"]
    return dead


def replay_after_plan_change(data_dir, projects, env=None) -> None:
    """The unplanned event becomes planned in block_unplanned's project; block_invalid's plan
    stays: after the replay, the first is stored and the second is blocked again."""
    path = data_dir.parent / "plan.json"
    path.write_text(json.dumps(plan("block_unplanned", ("Clicked Thing",))))
    pushed = cli(
        data_dir, "plan", "push", str(path), "--project", projects[1]["project_id"], env=env
    )
    assert pushed["version"] == 2
    replayed = cli(data_dir, "dead", "replay", "--stage", "validate", env=env)
    assert len(replayed["replayed"]) == 3 and replayed["skipped"] == []


def after_replay(server, projects, visitor: str) -> None:
    unplanned_ok, still_blocked = projects[1], projects[2]
    assert wait_for(
        lambda: (
            stored_names(server, unplanned_ok, visitor)
            == ["Clicked Thing", "Signed Up", "Signed Up"]
        ),
        60,
    ), stored_names(server, unplanned_ok, visitor)
    time.sleep(1.0)
    assert stored_names(server, still_blocked, visitor) == ["Signed Up"]


def test_each_mode_and_replay_in_the_embedded_runtime(tmp_path):
    data_dir = tmp_path / "data"
    projects = [cli(data_dir, "projects", "create", mode) for mode in MODES]
    visitor = f"vis_{uuid.uuid4().hex}"
    server = Server(data_dir, env=RELOAD).start()
    try:
        enforce_each_mode(server, projects, visitor)
    finally:
        assert server.stop() == 0, server.log()
    check_dead_letters(data_dir, projects)
    replay_after_plan_change(data_dir, projects)
    server = Server(data_dir, env=RELOAD).start()
    try:
        after_replay(server, projects, visitor)
    finally:
        assert server.stop() == 0, server.log()
    again = cli(data_dir, "dead", "list", "--stage", "validate")["dead_letters"]
    assert [d["project_id"] for d in again] == [projects[2]["project_id"]] * 2


def test_each_mode_and_replay_in_the_kafka_runtime(kafka, tmp_path):
    data_dir = tmp_path / "data"
    projects = [cli(data_dir, "projects", "create", mode) for mode in MODES]
    visitor = f"vis_{uuid.uuid4().hex}"
    env = worker_env(kafka, **RELOAD)
    worker = start_worker(data_dir, env)
    try:
        enforce_each_mode(worker, projects, visitor)
        # the dead letters go through events.dead to the sink: in the table before the stop
        assert wait_for(lambda: dead_counted(worker, "validate") == 3, 60), worker.log()
    finally:
        assert worker.stop() == 0, worker.log()
    check_dead_letters(data_dir, projects, env)
    replay_after_plan_change(data_dir, projects, env)
    worker = start_worker(data_dir, env, port=worker.port)
    try:
        after_replay(worker, projects, visitor)
    finally:
        assert worker.stop() == 0, worker.log()
    again = cli(data_dir, "dead", "list", "--stage", "validate", env=env)["dead_letters"]
    assert [d["project_id"] for d in again] == [projects[2]["project_id"]] * 2


def test_erasing_a_user_erases_the_violations_of_its_events_stored_or_blocked(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "erase")
    visitor, user = f"vis_{uuid.uuid4().hex}", f"user_{uuid.uuid4().hex}"
    server = Server(data_dir, env=RELOAD).start()
    try:
        # unplanned events are blocked (dead letters); the identify call is stored
        document = {"mode": "block_unplanned", "traits": {"email": {"pattern": "^$"}}}
        put_plan(server, project, document)
        time.sleep(2.0)
        events = [
            native_event(visitor, event="Clicked Thing"),
            native_event(
                visitor, type="identify", user_id=user, traits={"email": f"{user}@example.test"}
            ),
            native_event("vis_other", event="Clicked Thing"),
        ]
        assert post_batch(server, project, events).status_code == 202
        assert wait_for(lambda: len(violations(server, project)) == 3, 60), server.log()[-2000:]
    finally:
        assert server.stop() == 0, server.log()
    erased = cli(data_dir, "users", "delete", user, "--project", project["project_id"])
    assert erased["plan_violations"] == 2
    left = cli(data_dir, "sql", "SELECT got FROM trackhouse.plan_violations", "--format", "json")
    assert left["rows"] == [["Clicked Thing"]]  # the other visitor's; no trace of the user
