"""The edge keeps answering while its storage process is stalled (SIGSTOP): keys come from
memory, every call to the storage process has a deadline, writes are shed with 503."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.integration.server import Server, cli, wait_for

STORAGE_TIMEOUT = 2.0  # TRACKHOUSE_STORAGE_TIMEOUT_SECONDS for reads in this test


def storage_pid(server: Server) -> int:
    """The server's child that runs ``multiprocessing.spawn`` (the resource tracker does not)."""
    assert server.process is not None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server.process.pid and b"spawn_main" in cmdline:
            return int(entry.name)
    raise AssertionError("no storage process found")


def timed(call, *args, **kwargs) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call(*args, timeout=10.0, **kwargs)
    return response, time.monotonic() - started


def post(server: Server, key: str) -> tuple[httpx.Response, float]:
    body = {"events": [{"event": "stall", "visitor_id": "v"}]}
    return timed(httpx.post, f"{server.url}/v1/batch", json=body, headers={"X-API-Key": key})


def stored(server: Server, project) -> int:
    response = httpx.get(
        f"{server.url}/v1/events",
        params={"event": "stall", "limit": 1},
        headers={"X-API-Key": project["secret_key"]},
        timeout=10,
    )
    return response.json()["pagination"]["total"] if response.status_code == 200 else -1


def test_the_edge_answers_in_time_while_storage_is_stalled(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "stall")
    env = {"TRACKHOUSE_STORAGE_TIMEOUT_SECONDS": str(STORAGE_TIMEOUT)}
    server = Server(data_dir, env=env).start()
    try:
        assert post(server, project["write_key"])[0].status_code == 202
        accepted = 1
        pid = storage_pid(server)
        os.kill(pid, signal.SIGSTOP)
        stalled_at = time.monotonic()
        try:
            health = [timed(httpx.get, f"{server.url}/healthz") for _ in range(5)]
            assert all(r.status_code == 200 for r, _ in health)
            assert min(t for _, t in health) < 0.1, health  # the bound, best of five

            unknown, took = post(server, "thw_unknown")
            assert unknown.status_code == 401 and took < 1.0, (unknown.status_code, took)

            # Writes: 503 + Retry-After once the storage process missed its heartbeats.
            first_refusal = None
            while time.monotonic() - stalled_at < 4.0:
                response, took = post(server, project["write_key"])
                assert took < 2.0, took
                if response.status_code == 202:
                    assert first_refusal is None, "accepted again while stalled"
                    accepted += 1
                else:
                    assert response.status_code == 503, response.text
                    assert int(response.headers["Retry-After"]) > 0
                    first_refusal = first_refusal or time.monotonic() - stalled_at
                time.sleep(0.05)
            assert first_refusal is not None and first_refusal < 2.0, first_refusal

            ready, took = timed(httpx.get, f"{server.url}/readyz")
            assert ready.status_code == 503 and took < 2.0, (ready.text, took)
            reasons = ready.json()["reasons"]
            assert "storage process has not answered" in reasons["publisher"], reasons
            assert "did not answer" in reasons["clickhouse"], reasons

            # A read waits at most the storage timeout, then 503 (never a hang or a 500).
            read, took = timed(
                httpx.get,
                f"{server.url}/v1/events",
                headers={"X-API-Key": project["secret_key"]},
            )
            assert read.status_code == 503 and "Retry-After" in read.headers, read.text
            assert took < STORAGE_TIMEOUT + 1.5, took
            assert timed(httpx.get, f"{server.url}/healthz")[1] < 0.5
        finally:
            os.kill(pid, signal.SIGCONT)

        # It recovers by itself, and no accepted event was lost.
        assert wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 30)
        assert post(server, project["write_key"])[0].status_code == 202
        accepted += 1
        assert wait_for(lambda: stored(server, project) == accepted, 30), stored(server, project)
    finally:
        assert server.stop() == 0, server.log()
