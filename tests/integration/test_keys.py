"""Keys: kinds, revocation and rotation through the CLI, checked against a running server."""

from __future__ import annotations

import httpx

from tests.integration.server import Server, cli


def post(server: Server, key: str) -> int:
    response = httpx.post(
        f"{server.url}/v1/events",
        json={"event": "k", "visitor_id": "v"},
        headers={"X-API-Key": key},
    )
    return response.status_code


def test_revoked_keys_stop_working_and_rotation_issues_a_new_one(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "keys")
    assert project["write_key"].startswith("thw_") and project["secret_key"].startswith("ths_")
    listed = cli(data_dir, "keys", "list", project["project_id"])["keys"]
    assert {(k["kind"], k["revoked"]) for k in listed} == {("write", False), ("secret", False)}
    assert all(k["prefix"] not in (project["write_key"], project["secret_key"]) for k in listed)

    rotated = cli(data_dir, "keys", "rotate", project["project_id"], "--kind", "write")
    assert rotated["revoked"] == 1 and rotated["key"] != project["write_key"]
    secret_prefix = next(k["prefix"] for k in listed if k["kind"] == "secret")
    revoked = cli(data_dir, "keys", "revoke", secret_prefix)["revoked"]
    assert [k["kind"] for k in revoked] == ["secret"]

    server = Server(data_dir).start()
    try:
        assert post(server, project["write_key"]) == 401  # rotated away
        assert post(server, project["secret_key"]) == 401  # revoked
        assert post(server, rotated["key"]) == 202
    finally:
        assert server.stop() == 0, server.log()
    states = {(k["kind"], k["revoked"]) for k in cli(data_dir, "keys", "list")["keys"]}
    assert states == {("write", True), ("write", False), ("secret", True)}


def read(server: Server, key: str) -> int:
    return httpx.get(f"{server.url}/v1/events", headers={"X-API-Key": key}).status_code


def test_admin_api_creates_projects_rotates_and_revokes_keys_while_running(tmp_path):
    token = "adm_" + "x" * 32
    server = Server(tmp_path / "data", env={"TRACKHOUSE_ADMIN_TOKEN": token}).start()
    admin = httpx.Client(
        base_url=f"{server.url}/admin/v1", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        assert httpx.post(f"{server.url}/admin/v1/projects", json={"name": "a"}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            httpx.post(
                f"{server.url}/admin/v1/projects", json={"name": "a"}, headers=wrong
            ).status_code
            == 401
        )
        assert admin.post("/projects", json={"name": ""}).status_code == 422

        created = admin.post("/projects", json={"name": "shop"})
        assert created.status_code == 201, created.text
        project = created.json()
        assert (
            post(server, project["write_key"]) == 202 and read(server, project["secret_key"]) == 200
        )
        keys = admin.get(f"/projects/{project['project_id']}/keys").json()["keys"]
        assert sorted(k["kind"] for k in keys) == ["secret", "write"]
        assert all(project["write_key"] not in str(k) for k in keys)  # prefixes only

        rotated = admin.post(
            f"/projects/{project['project_id']}/keys/rotate", json={"kind": "write"}
        )
        assert rotated.json()["revoked"] == 1
        assert post(server, project["write_key"]) == 401  # at once, no restart
        assert post(server, rotated.json()["key"]) == 202

        secret_prefix = next(k["prefix"] for k in keys if k["kind"] == "secret")
        assert admin.post("/keys/revoke", json={"key": secret_prefix}).status_code == 200
        assert read(server, project["secret_key"]) == 401
        assert admin.post("/keys/revoke", json={"key": secret_prefix}).status_code == 404
        assert admin.get("/projects/prj_nope/keys").status_code == 404
    finally:
        admin.close()
        assert server.stop() == 0, server.log()
    assert token not in server.log()


def test_admin_api_is_off_without_a_token(embedded):
    response = httpx.post(f"{embedded.url}/admin/v1/projects", json={"name": "a"},
                          headers={"Authorization": "Bearer anything"})  # fmt: skip
    assert response.status_code == 404
