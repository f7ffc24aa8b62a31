"""Projects and their keys, kept in the ClickHouse ``projects`` table (keys only as SHA-256).

Two kinds of key per project: a **write** key (public: browsers and apps may embed it; it can
only send events) and a **secret** key (servers: sends events and reads them back). Keys can be
revoked and rotated; a revocation is a newer row for the same key hash (ReplacingMergeTree).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
RELOAD_AT_MOST_EVERY_SECONDS = 5.0
RELOAD_EVERY_SECONDS = 30.0  # so a key revoked by another process stops working soon
KeyKind = Literal["write", "secret"]
KEY_PREFIXES: dict[str, str] = {"write": "thw_", "secret": "ths_"}
COLUMNS = ("key_hash", "project_id", "name", "key_kind", "key_prefix", "created_at", "revoked")
SHOWN_PREFIX = 12


@dataclass(frozen=True, slots=True)
class CreatedProject:
    project_id: str
    name: str
    write_key: str
    secret_key: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request's key speaks for."""

    project_id: str
    kind: str

    @property
    def can_read(self) -> bool:
        return self.kind == "secret"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_hash: str
    project_id: str
    name: str
    kind: str
    prefix: str
    created_at: Any
    revoked: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(kind: KeyKind) -> str:
    return KEY_PREFIXES[kind] + secrets.token_urlsafe(32 if kind == "secret" else 24)


class ProjectRegistry:
    """Resolves API keys to projects; keys are cached in memory, re-read on a miss (at most
    every 5 s) and every 30 s."""

    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse
        self._keys: dict[str, Principal] = {}
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self.reload()

    @property
    def _table(self) -> str:
        return f"{self.clickhouse.database}.projects"

    def reload(self) -> None:
        _, rows = self.clickhouse.query(
            f"SELECT key_hash, project_id, key_kind FROM {self._table} FINAL WHERE NOT revoked"
        )
        keys = {digest: Principal(project, kind) for digest, project, kind in rows}
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()

    def _write(self, keys: list[KeyInfo]) -> None:
        columns = [list(values) for values in zip(*(_row(k) for k in keys), strict=True)]
        self.clickhouse.insert(Block("projects", COLUMNS, columns))

    def keys(self, project_id: str | None = None) -> list[KeyInfo]:
        """Every key (active and revoked), oldest first; of one project when given."""
        where = "WHERE project_id = {p:String}" if project_id else ""
        _, rows = self.clickhouse.query(
            f"SELECT {', '.join(COLUMNS)} FROM {self._table} FINAL {where} ORDER BY created_at",
            {"p": project_id} if project_id else {},
        )
        return [KeyInfo(*row) for row in rows]

    def issue_key(self, project_id: str, name: str, kind: KeyKind) -> str:
        key = new_key(kind)
        now_ms = int(time.time() * 1000)
        info = KeyInfo(hash_key(key), project_id, name, kind, key[:SHOWN_PREFIX], now_ms, False)
        self._write([info])
        with self._lock:
            self._keys[info.key_hash] = Principal(project_id, kind)
        log.info("key.issued", project_id=project_id, kind=kind, prefix=info.prefix)
        return key

    def create(self, name: str) -> CreatedProject:
        project_id = "prj_" + secrets.token_hex(8)
        write_key = self.issue_key(project_id, name, "write")
        secret_key = self.issue_key(project_id, name, "secret")
        log.info("project.created", project_id=project_id)
        return CreatedProject(project_id, name, write_key, secret_key)

    def revoke(self, key_or_prefix: str) -> list[KeyInfo]:
        """Revoke the key given in full, or every active key shown with that prefix."""
        matches = [
            k
            for k in self.keys()
            if not k.revoked
            and (k.key_hash == hash_key(key_or_prefix) or k.prefix == key_or_prefix)
        ]
        if matches:
            self._write([_revoked(k) for k in matches])
            with self._lock:
                for k in matches:
                    self._keys.pop(k.key_hash, None)
            log.info("key.revoked", prefixes=[k.prefix for k in matches])
        return matches

    def rotate(self, project_id: str, kind: KeyKind) -> tuple[str, list[KeyInfo]]:
        """A new key of ``kind`` for the project; its other active keys of that kind are
        revoked. Returns the new key and the revoked ones."""
        active = [k for k in self.keys(project_id) if k.kind == kind and not k.revoked]
        if not active and not self.keys(project_id):
            raise KeyError(project_id)
        name = active[0].name if active else self.keys(project_id)[0].name
        key = self.issue_key(project_id, name, kind)
        if active:
            self._write([_revoked(k) for k in active])
            with self._lock:
                for k in active:
                    self._keys.pop(k.key_hash, None)
        return key, active

    def count(self) -> int:
        with self._lock:
            return len({p.project_id for p in self._keys.values()})

    def authenticate(self, key: str | None) -> Principal | None:
        """Who ``key`` speaks for, or None when it is missing, unknown or revoked."""
        if not key:
            return None
        digest = hash_key(key)
        age = time.monotonic() - self._loaded_at
        principal = self._keys.get(digest)
        if age > RELOAD_EVERY_SECONDS or (principal is None and age > RELOAD_AT_MOST_EVERY_SECONDS):
            self.reload()
            principal = self._keys.get(digest)
        return principal


def _row(k: KeyInfo) -> tuple[Any, ...]:
    return (k.key_hash, k.project_id, k.name, k.kind, k.prefix, k.created_at, k.revoked)


def _revoked(k: KeyInfo) -> KeyInfo:
    return KeyInfo(k.key_hash, k.project_id, k.name, k.kind, k.prefix, k.created_at, True)
