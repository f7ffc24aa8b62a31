"""Disk full, for real: a ``trackhouse serve`` whose spool is on a tiny tmpfs that runs out of
inodes and of space answers 503 with Retry-After (never 500) while it is full, 202 again once
there is room, and exactly the acknowledged events are stored; and a spool on a thin-provisioned
disk (ext2 on a loop device over a small tmpfs), where the kernel reports the lack of room only
at fsync — once — refuses exactly what it could not make durable."""

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

from pipeline.runtime.spool import Spool, SpoolFullError
from tests.integration.server import Server, cli, wait_for

SEGMENT_BYTES = 24 * 1024  # a roll every few requests
EVENTS_PER_POST = 20


def run_or_skip(*command: str | Path) -> str:
    """Run a setup command as root; skip the test (with its reason) when it cannot run here."""
    if os.geteuid() != 0:
        pytest.skip("mounting file systems needs root (CI runs as root)")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        pytest.skip(f"{command[0]} is not installed: {exc}")
    if done.returncode != 0:
        pytest.skip(f"{' '.join(map(str, command))} failed here: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def tmpfs(path: Path, size: str, inodes: int | None = None) -> Iterator[None]:
    """``path`` on a fresh tmpfs (root only); skips the test when it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=700" + (f",nr_inodes={inodes}" if inodes else "")
    run_or_skip("mount", "-t", "tmpfs", "-o", options, "tmpfs", path)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", path], check=False)


@contextlib.contextmanager
def thin_disk(path: Path, backing: Path) -> Iterator[None]:
    """``path`` on a 256 MB ext2 file system whose blocks live in a 16 MB tmpfs at ``backing``:
    writes succeed into the page cache, and fsync fails once the tmpfs is full."""
    with tmpfs(backing, "16m"):
        image = backing / "disk.img"
        run_or_skip("truncate", "-s", "256M", image)
        run_or_skip("mkfs.ext2", "-q", "-F", image)
        loop = run_or_skip("losetup", "-f", "--show", image)
        try:
            path.mkdir(parents=True)
            run_or_skip("mount", "-o", "errors=continue", loop, path)
            try:
                yield
            finally:
                subprocess.run(["umount", "-l", path], check=False)
        finally:
            subprocess.run(["losetup", "-d", loop], check=False)


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


class Sender:
    """Posts uniquely named batches to a server; every answer must be 202, or 503 with
    Retry-After (never 500). Remembers which batches were accepted and which refused."""

    def __init__(self, server: Server, project: dict) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.client = httpx.Client(base_url=server.url, headers={"X-API-Key": project["write_key"]})
        self.accepted: list[str] = []
        self.refused: list[str] = []

    def post(self) -> int:
        name = f"{self.run}-{len(self.accepted) + len(self.refused)}"
        events = [
            {"event": name, "visitor_id": f"v{i}", "message_id": f"{name}-{i}"}
            for i in range(EVENTS_PER_POST)
        ]
        response = self.client.post("/v1/batch", json={"events": events})
        assert response.status_code in (202, 503), (response.status_code, response.text)
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error"] == "unavailable"
            self.refused.append(name)
        else:
            assert response.json()["accepted"] == EVENTS_PER_POST
            self.accepted.append(name)
        return response.status_code

    def post_until_refused(self, times: int, refusals: int = 3) -> None:
        """Post until ``refusals`` posts were refused (the last one is)."""
        statuses: list[int] = []
        while statuses.count(503) < refusals:
            assert len(statuses) < times, statuses
            statuses.append(self.post())

    def ready(self) -> int:
        return self.client.get("/readyz").status_code

    def assert_stored_exactly_the_accepted(self, data_dir: Path) -> None:
        """Once the server stopped: every accepted batch is stored once, no refused one."""
        self.client.close()
        counts = dict(
            cli(
                data_dir,
                "sql",
                f"SELECT event, count() FROM trackhouse.events FINAL "
                f"WHERE event LIKE '{self.run}-%' GROUP BY event",
            )["rows"]
        )
        assert self.refused and len(self.accepted) > 8
        assert counts == {name: EVENTS_PER_POST for name in self.accepted}


def serve(data_dir: Path) -> Server:
    """A server with a small spool segment (rolls every few requests) that does not shed load
    for being behind: every 503 in these tests is the spool's."""
    env = {
        "TRACKHOUSE_SPOOL_SEGMENT_BYTES": str(SEGMENT_BYTES),
        "TRACKHOUSE_MAX_BACKLOG_SECONDS": "120",
    }
    return Server(data_dir, env=env).start()


def test_a_full_spool_disk_answers_503_and_recovers_without_losing_or_storing_extra(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "full")
    spool_dir = data_dir / "spool"
    with tmpfs(spool_dir, "2m", 48):
        space_filler = spool_dir / "space-filler"
        space_filler.touch()
        server = serve(data_dir)
        try:
            sender = Sender(server, project)
            assert sender.post() == 202
            # No inode left: the spool goes on in its segment until it must roll.
            inode_fillers = use_up_inodes(spool_dir)
            sender.post_until_refused(40)
            # Inodes back, but no space left: the roll works, the writes fail.
            for filler in inode_fillers:
                filler.unlink()
            use_up_space(space_filler)
            sender.post_until_refused(20)
            assert sender.ready() == 503
            # Room again: the next request is stored.
            space_filler.unlink()
            assert all(sender.post() == 202 for _ in range(7))  # several rolls
            assert wait_for(lambda: sender.ready() == 200, 10)
        finally:
            code = server.stop()
        assert code == 0, server.log()
        assert "Traceback" not in server.log()
    sender.assert_stored_exactly_the_accepted(data_dir)


def test_fsync_failures_answer_503_and_the_storage_process_skips_what_was_cut(tmp_path):
    """The spool on a thin-provisioned disk: writes land in the page cache, fsync fails. The
    refused records are cut off (a hole the storage process reads past)."""
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "thin")
    backing = tmp_path / "backing"
    with thin_disk(data_dir / "spool", backing):
        server = serve(data_dir)
        try:
            sender = Sender(server, project)
            assert all(sender.post() == 202 for _ in range(3))
            use_up_space(backing / "filler")
            sender.post_until_refused(20)
            assert sender.ready() == 503
            (backing / "filler").unlink()
            assert all(sender.post() == 202 for _ in range(7))
            assert wait_for(lambda: sender.ready() == 200, 10)
        finally:
            code = server.stop()
        assert code == 0, server.log()
        assert "spool.unsynced_dropped" in server.log()
        assert "Traceback" not in server.log()
    sender.assert_stored_exactly_the_accepted(data_dir)


def test_a_spool_whose_fsync_fails_refuses_exactly_what_it_could_not_make_durable(tmp_path):
    backing, mount = tmp_path / "backing", tmp_path / "disk"
    with thin_disk(mount, backing):
        spool = Spool(mount / "spool", segment_bytes=1 << 20)
        acked: list[bytes] = []

        def attempt(payload: bytes) -> bool:
            try:
                _, end = spool.append([payload])
                spool.sync(end)
            except SpoolFullError:
                return False
            acked.append(payload)
            return True

        try:
            assert all(attempt(b"before-%d" % i * 1000) for i in range(5))
            use_up_space(backing / "filler")  # the disk's blocks have nowhere to go
            assert not any([attempt(b"full-%d" % i * 20_000) for i in range(20)])
            (backing / "filler").unlink()
            assert all(attempt(b"after-%d" % i * 20_000) for i in range(10))
            spool.close()
            reopened = Spool(mount / "spool")
            records, offset = [], 0
            while True:
                batch, offset = reopened.read(offset)
                if not batch:
                    break
                records += batch
            reopened.close()
        finally:
            spool.close()
    assert records == acked  # in order: nothing refused, nothing acknowledged lost
