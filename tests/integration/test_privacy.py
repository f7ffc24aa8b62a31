"""Privacy promises end to end: erasing a user, purging old anonymous visitors."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.integration.helpers import files_containing
from tests.integration.server import Server, cli, wait_for

DAY_MS = 86_400_000


def post(server: Server, project, events) -> None:
    response = httpx.post(
        f"{server.url}/v1/batch",
        json={"events": events},
        headers={"X-API-Key": project["write_key"]},
    )
    assert response.status_code == 202 and response.json()["accepted"] == len(events), response.text


def total(server: Server, project, **params) -> int:
    response = httpx.get(
        f"{server.url}/v1/events",
        params={"limit": 1, **params},
        headers={"X-API-Key": project["secret_key"]},
    )
    assert response.status_code == 200, response.text
    return response.json()["pagination"]["total"]


def sql_count(data_dir, statement: str) -> int:
    return cli(data_dir, "sql", statement)["rows"][0][0]


def test_users_delete_erases_events_sessions_identities_profile_and_state(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "gdpr")
    run = uuid.uuid4().hex[:8]
    user, other = f"u-{run}", f"keep-{run}"
    visitor = f"vis_{run}"
    now = int(time.time() * 1000)
    server = Server(data_dir).start()
    try:
        post(server, project, [
            {"event": "browse", "visitor_id": visitor, "timestamp": now - 3000},
            {"type": "identify", "visitor_id": visitor, "user_id": user, "timestamp": now - 2000,
             "traits": {"email": "x@example.test"}},
            {"event": "server_side", "user_id": user, "timestamp": now - 1000},
            {"event": "other", "user_id": other, "timestamp": now - 1000},
        ])  # fmt: skip
        assert wait_for(lambda: total(server, project, user_id=user) == 3, 30)
    finally:
        assert server.stop() == 0, server.log()

    erased = cli(data_dir, "users", "delete", user, "--project", project["project_id"])
    assert erased == {
        "user_id": user, "visitors": 1, "events": 3, "sessions": 2, "identities": 1, "users": 1,
        "dead_letters": 0, "ingestion_warnings": 0, "plan_violations": 0, "spool_records": 3,
        "outdated_parts_left": 0,
    }  # fmt: skip
    db = "trackhouse"
    for table, column in (("events", "user_id"), ("sessions", "user_id"), ("users", "user_id"),
                          ("identities", "user_id")):  # fmt: skip
        assert (
            sql_count(data_dir, f"SELECT count() FROM {db}.{table} WHERE {column} = '{user}'") == 0
        )
    assert (
        sql_count(data_dir, f"SELECT count() FROM {db}.events WHERE visitor_id = '{visitor}'") == 0
    )
    assert sql_count(data_dir, f"SELECT count() FROM {db}.events WHERE user_id = '{other}'") == 1

    restarted = Server(data_dir).start()
    try:  # the visitor comes back: nothing ties it to the erased user any more
        post(restarted, project, [{"event": "again", "visitor_id": visitor, "timestamp": now}])
        assert wait_for(lambda: total(restarted, project, event="again") == 1, 30)
        assert total(restarted, project, user_id=user) == 0
    finally:
        assert restarted.stop() == 0, restarted.log()


@pytest.mark.parametrize("checkpoint_seconds", ["3600", "0"], ids=["replay-all", "state-saved"])
def test_an_erase_after_kill_9_stays_erased_and_leaves_nothing_on_disk(
    tmp_path, checkpoint_seconds
):
    """The spool replays from the last checkpoint after a kill -9: the erased user's events,
    email and traits must not come back, and no file of the data dir may hold its id or traits.
    With no checkpoint everything is replayed; with one after every batch the user's visitors
    have state in RocksDB."""
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "gdpr-crash")
    run = uuid.uuid4().hex[:8]
    user, other, visitor = f"u-{run}", f"keep-{run}", f"vis_{run}"
    email, plan = f"x-{run}@example.test", f"plan-{run}"
    now = int(time.time() * 1000)
    env = {"TRACKHOUSE_STATE_CHECKPOINT_SECONDS": checkpoint_seconds}
    server = Server(data_dir, env=env).start()
    post(server, project, [
        {"event": "browse", "visitor_id": visitor, "timestamp": now - 3000},
        {"type": "identify", "visitor_id": visitor, "user_id": user, "timestamp": now - 2000,
         "traits": {"email": email, "plan": plan}},
        {"event": "server_side", "user_id": user, "timestamp": now - 1000,
         "properties": {"plan": plan}},
        {"event": "other", "user_id": other, "timestamp": now - 1000},
    ])  # fmt: skip
    assert wait_for(lambda: total(server, project, user_id=user) == 3, 30)
    server.kill()

    erased = cli(data_dir, "users", "delete", user, "--project", project["project_id"])
    assert (erased["events"], erased["users"], erased["visitors"]) == (3, 1, 1), erased
    assert erased["outdated_parts_left"] == 0
    assert files_containing(data_dir, user, email, plan) == []

    restarted = Server(data_dir, env=env).start()
    try:  # the replay from the checkpoint (offset 0) runs before this new event is stored
        post(restarted, project, [{"event": "after", "visitor_id": f"new-{run}",
                                   "timestamp": now}])  # fmt: skip
        assert wait_for(lambda: total(restarted, project, event="after") == 1, 60)
        assert total(restarted, project, user_id=user) == 0
        assert total(restarted, project, visitor_id=visitor) == 0
        assert total(restarted, project, user_id=other) == 1
    finally:
        assert restarted.stop() == 0, restarted.log()
    db = "trackhouse"
    assert sql_count(data_dir, f"SELECT count() FROM {db}.users WHERE user_id = '{user}'") == 0
    kept = f"SELECT count() FROM {db}.users_current WHERE user_id = '{other}'"
    assert sql_count(data_dir, kept) == 1
    assert (
        sql_count(data_dir, f"SELECT count() FROM {db}.identities WHERE user_id = '{user}'") == 0
    )
    assert files_containing(data_dir, user, email, plan) == []
    assert user not in restarted.log() and email not in restarted.log()


ADMIN = "privacy-admin-token"


def admin(server: Server, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    return httpx.request(method, f"{server.url}/admin/v1{path}", headers=headers, **kwargs)


def test_retention_is_a_per_project_policy_off_by_default(tmp_path):
    """The 90-day anonymous purge deleted privacy-dashboard events (never identified) and
    Kitbase logs without a user: retention now runs only where a project's policy asks."""
    data_dir = tmp_path / "data"
    dashboard = cli(data_dir, "projects", "create", "privacy-dashboard")  # no policy: keep all
    ascend = cli(data_dir, "projects", "create", "ascendkit")
    kitbase = cli(data_dir, "projects", "create", "kitbase")
    assert (dashboard["anonymous_retention_days"], dashboard["retention_days"]) == (0, 0)
    now = int(time.time() * 1000)
    old = now - 100 * DAY_MS
    run = uuid.uuid4().hex[:8]
    env = {"TRACKHOUSE_RETENTION_CHECK_SECONDS": "1", "TRACKHOUSE_ADMIN_TOKEN": ADMIN}
    server = Server(data_dir, env=env).start()
    try:
        response = admin(server, "PUT", f"/projects/{ascend['project_id']}/retention",
                         json={"anonymous_retention_days": 90})  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json()["anonymous_retention_days"] == 90
        assert response.json()["retention_days"] == 0
        response = admin(server, "PUT", f"/projects/{kitbase['project_id']}/retention",
                         json={"retention_days": 30})  # fmt: skip
        assert response.status_code == 200, response.text
        ascend_retention = f"/projects/{ascend['project_id']}/retention"
        bad = (({"retention_days": -1}, "retention_days"),
               ({"anonymous_retention_days": "90"}, "anonymous_retention_days"))  # fmt: skip
        for body, field in bad:
            response = admin(server, "PUT", ascend_retention, json=body)
            assert response.status_code == 422 and response.json()["field"] == field, response.text
        response = admin(server, "PUT", "/projects/prj_nope/retention", json={"retention_days": 1})
        assert response.status_code == 404
        listed = {p["project_id"]: p for p in admin(server, "GET", "/projects").json()["projects"]}
        assert (listed[ascend["project_id"]]["anonymous_retention_days"],
                listed[ascend["project_id"]]["retention_days"]) == (90, 0)  # fmt: skip
        assert listed[dashboard["project_id"]]["retention_policy"] == "default"
        assert listed[dashboard["project_id"]]["anonymous_retention_days"] == 0

        for project in (dashboard, ascend, kitbase):
            post(server, project, [
                {"event": "old_anon", "visitor_id": f"a-{run}", "timestamp": old},
                {"event": "old_known", "visitor_id": f"k-{run}", "timestamp": old},
                {"type": "identify", "visitor_id": f"k-{run}", "user_id": f"u-{run}",
                 "timestamp": old + 1000},
                {"event": "old_user_event", "user_id": f"s-{run}", "timestamp": old},
                {"event": "recent_anon", "visitor_id": f"r-{run}", "timestamp": now - 1000},
            ])  # fmt: skip
            assert wait_for(lambda p=project: total(server, p, event="recent_anon") == 1, 30)
        # AscendKit's 90-day rule: old never-identified visitors go, identified ones stay
        assert wait_for(lambda: total(server, ascend, event="old_anon") == 0, 30)
        assert total(server, ascend, event="old_known") == 1
        assert total(server, ascend, event="old_user_event") == 1
        # 30 days for everything: every old event goes, recent ones stay
        assert wait_for(lambda: total(server, kitbase, event="old_user_event") == 0, 30)
        assert wait_for(lambda: total(server, kitbase, event="old_known") == 0, 30)
        assert total(server, kitbase, event="recent_anon") == 1
        time.sleep(3)  # several more passes of the job
        for event in ("old_anon", "old_known", "old_user_event", "recent_anon"):
            assert total(server, dashboard, event=event) == 1, event
    finally:
        assert server.stop() == 0, server.log()


def test_projects_cli_sets_and_lists_retention(tmp_path):
    data_dir = tmp_path / "data"
    ascend = cli(data_dir, "projects", "create", "ascendkit", "--anonymous-retention-days", "90")
    assert (ascend["anonymous_retention_days"], ascend["retention_days"]) == (90, 0)
    other = cli(data_dir, "projects", "create", "other")
    assert cli(data_dir, "projects", "retention", other["project_id"], "--retention-days",
               "365") == {"project_id": other["project_id"], "anonymous_retention_days": 0,
                          "retention_days": 365}  # fmt: skip
    listed = cli(data_dir, "projects", "list")["projects"]
    assert [(p["name"], p["anonymous_retention_days"], p["retention_days"], p["active_keys"])
            for p in listed] == [("ascendkit", 90, 0, 2), ("other", 0, 365, 2)]  # fmt: skip
    cli(data_dir, "projects", "retention", ascend["project_id"], "--anonymous-retention-days", "0")
    listed = cli(data_dir, "projects", "list")["projects"]
    assert listed[0]["anonymous_retention_days"] == 0 and listed[0]["retention_policy"] == "project"
