"""Keys are looked up in memory; a background thread keeps them fresh."""

from __future__ import annotations

import threading
import time

from pipeline.registry import projects
from pipeline.registry.projects import ProjectRegistry, hash_key


class Storage:
    """The projects table as the registry reads it; ``stalled`` makes reads hang."""

    database = "db"

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.stalled = threading.Event()
        self.reads = 0

    def query(self, _sql, _parameters=None):
        self.reads += 1
        while self.stalled.is_set():
            time.sleep(0.01)
        return ["key_hash", "project_id", "key_kind"], list(self.rows)

    def insert(self, _block) -> None:
        pass


def test_lookups_never_wait_for_storage_and_new_keys_arrive_in_the_background(monkeypatch):
    monkeypatch.setattr(projects, "REFRESH_AT_MOST_EVERY_SECONDS", 0.05)
    storage = Storage()
    storage.rows.append((hash_key("thw_a"), "prj_a", "write"))
    registry = ProjectRegistry(storage)
    registry.start_refreshing()
    assert registry.authenticate("thw_a").project_id == "prj_a"

    storage.stalled.set()
    started = time.monotonic()
    assert registry.authenticate("thw_new") is None  # unknown: answered from memory
    assert registry.authenticate("thw_a").project_id == "prj_a"
    assert time.monotonic() - started < 0.05

    storage.rows.append((hash_key("thw_new"), "prj_b", "write"))  # issued elsewhere
    storage.stalled.clear()
    deadline = time.monotonic() + 5
    while registry.authenticate("thw_new") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert registry.authenticate("thw_new").project_id == "prj_b"


def test_a_key_issued_here_survives_a_reload_that_started_before_it(monkeypatch):
    storage = Storage()
    registry = ProjectRegistry(storage)
    storage.stalled.set()
    reload = threading.Thread(target=registry.reload)
    reload.start()
    time.sleep(0.05)  # the reload's query is under way, without the new key
    key = registry.issue_key("prj_c", "c", "write")
    storage.stalled.clear()
    reload.join()
    assert registry.authenticate(key).project_id == "prj_c"
