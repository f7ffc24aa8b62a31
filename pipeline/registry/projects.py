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
REFRESH_EVERY_SECONDS = 10.0  # so a key revoked by another process stops working soon
REFRESH_AT_MOST_EVERY_SECONDS = 1.0  # an unknown key asks for a refresh; a flood of them too
# "read": a read-only share token (a public dashboard link): reads, never writes or changes.
KeyKind = Literal["write", "secret", "read"]
KEY_PREFIXES: dict[str, str] = {"write": "thw_", "secret": "ths_", "read": "thr_"}
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
        return self.kind in ("secret", "read")

    @property
    def read_only(self) -> bool:
        return self.kind == "read"


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
    return KEY_PREFIXES[kind] + secrets.token_urlsafe(24 if kind == "write" else 32)


class ProjectRegistry:
    """Resolves API keys to projects from memory: a lookup never waits for ClickHouse.

    Once ``start_refreshing`` runs, a background thread re-reads the keys every 10 s, and soon
    after an unknown key was asked for (at most once a second), so keys issued or revoked by
    another process take effect; keys issued or revoked here take effect at once."""

    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse
        self._keys: dict[str, Principal] = {}
        self._lock = threading.Lock()
        # Changes made here, kept until a reload that started after them has run.
        self._changes: list[tuple[float, str, Principal | None]] = []
        self._refresh = threading.Event()
        self._refresher: threading.Thread | None = None
        self.reload()

    @property
    def _table(self) -> str:
        return f"{self.clickhouse.database}.projects"

    def reload(self) -> None:
        started = time.monotonic()
        _, rows = self.clickhouse.query(
            f"SELECT key_hash, project_id, key_kind FROM {self._table} FINAL WHERE NOT revoked"
        )
        keys = {digest: Principal(project, kind) for digest, project, kind in rows}
        with self._lock:
            # a change made while the query ran may be missing from its answer: apply it again
            self._changes = [change for change in self._changes if change[0] >= started]
            for _at, digest, principal in self._changes:
                _apply(keys, digest, principal)
            self._keys = keys

    def start_refreshing(self) -> None:
        """Keep the keys fresh in a background thread (the edge calls this; the CLI does not)."""
        if self._refresher is None:
            self._refresher = threading.Thread(
                target=self._refresh_forever, name="keys-refresh", daemon=True
            )
            self._refresher.start()

    def _refresh_forever(self) -> None:
        while True:
            self._refresh.wait(REFRESH_EVERY_SECONDS - REFRESH_AT_MOST_EVERY_SECONDS)
            self._refresh.clear()
            try:
                self.reload()
            except Exception as exc:  # storage stalled or down: keep serving the keys we have
                log.warning("keys.refresh_failed", error=str(exc))
            time.sleep(REFRESH_AT_MOST_EVERY_SECONDS)

    def _changed(self, digest: str, principal: Principal | None) -> None:
        """A key issued (``principal``) or revoked (None) here, after it was written."""
        with self._lock:
            _apply(self._keys, digest, principal)
            self._changes.append((time.monotonic(), digest, principal))

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
        self._changed(info.key_hash, Principal(project_id, kind))
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
            for k in matches:
                self._changed(k.key_hash, None)
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
            for k in active:
                self._changed(k.key_hash, None)
        return key, active

    def count(self) -> int:
        with self._lock:
            return len({p.project_id for p in self._keys.values()})

    def authenticate(self, key: str | None) -> Principal | None:
        """Who ``key`` speaks for, or None when it is missing, unknown or revoked (from
        memory; an unknown key asks the background thread for a refresh)."""
        if not key:
            return None
        principal = self._keys.get(hash_key(key))
        if principal is None:
            self._refresh.set()
        return principal


def _apply(keys: dict[str, Principal], digest: str, principal: Principal | None) -> None:
    if principal is None:
        keys.pop(digest, None)
    else:
        keys[digest] = principal


def _row(k: KeyInfo) -> tuple[Any, ...]:
    return (k.key_hash, k.project_id, k.name, k.kind, k.prefix, k.created_at, k.revoked)


def _revoked(k: KeyInfo) -> KeyInfo:
    return KeyInfo(k.key_hash, k.project_id, k.name, k.kind, k.prefix, k.created_at, True)
