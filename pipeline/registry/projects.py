"""Projects and write keys, kept in the ClickHouse ``projects`` table (keys only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

import structlog

from pipeline.sink.clickhouse import ClickHouse
from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
RELOAD_AT_MOST_EVERY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class CreatedProject:
    project_id: str
    name: str
    write_key: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ProjectRegistry:
    """Resolves API keys to project ids; keys are cached in memory and re-read on a miss."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse = clickhouse
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self.reload()

    def reload(self) -> None:
        _, rows = self.clickhouse.query(
            f"SELECT key_hash, project_id FROM {self.clickhouse.database}.projects FINAL "
            "WHERE NOT revoked"
        )
        with self._lock:
            self._keys = dict(rows)
            self._loaded_at = time.monotonic()

    def create(self, name: str) -> CreatedProject:
        project_id = "prj_" + secrets.token_hex(8)
        write_key = "th_" + secrets.token_urlsafe(24)
        now_ms = int(time.time() * 1000)
        self.clickhouse.insert(
            Block(
                "projects",
                ("key_hash", "project_id", "name", "key_kind", "key_prefix", "created_at"),
                [[hash_key(write_key)], [project_id], [name], ["write"], [write_key[:7]], [now_ms]],
            )
        )
        with self._lock:
            self._keys[hash_key(write_key)] = project_id
        log.info("project.created", project_id=project_id)
        return CreatedProject(project_id, name, write_key)

    def count(self) -> int:
        with self._lock:
            return len(set(self._keys.values()))

    def authenticate(self, key: str | None) -> str | None:
        """The project id of ``key``, or None when it is missing or unknown."""
        if not key:
            return None
        digest = hash_key(key)
        project_id = self._keys.get(digest)
        if project_id is None and time.monotonic() - self._loaded_at > RELOAD_AT_MOST_EVERY_SECONDS:
            self.reload()
            project_id = self._keys.get(digest)
        return project_id
