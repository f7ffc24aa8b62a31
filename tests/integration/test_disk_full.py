"""A real ``trackhouse serve`` whose spool is on a tiny tmpfs that runs out of inodes and of
space: the edge answers 503 with Retry-After (never 500) while it is full, 202 again once
there is room, and exactly the acknowledged events are stored."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.server import Server, cli, wait_for

SEGMENT_BYTES = 24 * 1024  # a roll every few requests
EVENTS_PER_POST = 20


@contextlib.contextmanager
def tmpfs(path: Path, size: str, inodes: int) -> Iterator[None]:
    """``path`` on a fresh tmpfs (root only); skips the test when it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes},mode=700", "tmpfs", path],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def use_up_inodes(directory: Path) -> list[Path]:
    """Create empty files until the file system has no inode left: no new segment file."""
    fillers = []
    while True:
        path = directory / f"inode-filler-{len(fillers)}"
        try:
            path.touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
            return fillers
        fillers.append(path)


def use_up_space(path: Path) -> None:
    """Grow ``path`` until the disk is full."""
    with open(path, "ab", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def test_a_full_spool_disk_answers_503_and_recovers_without_losing_or_storing_extra(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "full")
    spool_dir = data_dir / "spool"
    run = uuid.uuid4().hex[:8]
    with tmpfs(spool_dir, "2m", 48):
        space_filler = spool_dir / "space-filler"
        space_filler.touch()
        env = {
            "TRACKHOUSE_SPOOL_SEGMENT_BYTES": str(SEGMENT_BYTES),
            "TRACKHOUSE_MAX_BACKLOG_SECONDS": "120",  # every 503 here is the spool's
        }
        server = Server(data_dir, env=env).start()
        accepted: list[str] = []
        refused: list[str] = []
        try:
            headers = {"X-API-Key": project["write_key"]}
            with httpx.Client(base_url=server.url, headers=headers) as c:

                def post() -> int:
                    name = f"{run}-{len(accepted) + len(refused)}"
                    events = [
                        {"event": name, "visitor_id": f"v{i}", "message_id": f"{name}-{i}"}
                        for i in range(EVENTS_PER_POST)
                    ]
                    response = c.post("/v1/batch", json={"events": events})
                    assert response.status_code in (202, 503), (response.status_code, response.text)
                    if response.status_code == 503:
                        assert int(response.headers["Retry-After"]) > 0
                        assert response.json()["error"] == "unavailable"
                        refused.append(name)
                    else:
                        assert response.json()["accepted"] == EVENTS_PER_POST
                        accepted.append(name)
                    return response.status_code

                def post_until_refused(times: int, refusals: int = 3) -> None:
                    """Post until ``refusals`` posts were refused (the last one is)."""
                    statuses: list[int] = []
                    while statuses.count(503) < refusals:
                        assert len(statuses) < times, statuses
                        statuses.append(post())

                assert post() == 202
                # No inode left: the spool goes on in its segment until it must roll.
                inode_fillers = use_up_inodes(spool_dir)
                post_until_refused(40)
                # Inodes back, but no space left: the roll works, the writes fail.
                for filler in inode_fillers:
                    filler.unlink()
                use_up_space(space_filler)
                post_until_refused(20)
                assert c.get("/readyz").status_code == 503
                # Room again: the next request is stored.
                space_filler.unlink()
                assert post() == 202
                for _ in range(6):  # several rolls
                    assert post() == 202
                ready = wait_for(lambda: c.get("/readyz").status_code == 200, 10)
                assert ready, c.get("/readyz").text
        finally:
            code = server.stop()
        assert code == 0, server.log()
        assert "Traceback" not in server.log()
    counts = dict(
        cli(
            data_dir,
            "sql",
            f"SELECT event, count() FROM trackhouse.events FINAL WHERE event LIKE '{run}-%' "
            "GROUP BY event",
        )["rows"]
    )
    assert refused and len(accepted) > 8
    assert counts == {name: EVENTS_PER_POST for name in accepted}  # and none of ``refused``
