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
