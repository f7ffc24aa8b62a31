"""Erasure tombstones: which (project, visitor key) subjects were erased, and when.

A subject is named by a SHA-256 of ``state_key(project_id, visitor_key)`` (the visitor id, or
``user:<user_id>`` for the user itself), so no tombstone holds an id. Both runtimes drop an event
received before its subject's erasure: a replay (the spool from its checkpoint, Kafka from the
committed offsets) cannot bring an erased user back, while events that arrive after the erasure
are new data. The check is free while nothing was erased, one comparison for an event received
after the latest erasure, and one or two hashes (~3 µs each) only for events received before it
(a replay).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from typing import Any

import structlog

from schemas.keys import state_key, user_key

log = structlog.get_logger(__name__)
# The same digest in SQL, for a mutation that names subjects by hash only.
SQL_SUBJECT = "lower(hex(SHA256(concat(project_id, '\\0', {key}))))"


def subject(project_id: str, visitor_key: str) -> str:
    """The tombstone name of a (project, visitor key): hex SHA-256 of its state key."""
    return hashlib.sha256(state_key(project_id, visitor_key)).hexdigest()


def user_subjects(project_id: str, user_id: str, visitors: Iterable[str]) -> list[str]:
    """The subjects of a user: its server-side key and each of its visitors."""
    keys = {user_key(user_id), *visitors}
    return sorted(subject(project_id, key) for key in keys)


class Tombstones:
    """The erased subjects (digest -> erased_at, epoch ms), read from the ``erasures`` table."""

    def __init__(self, erased: dict[str, int] | None = None) -> None:
        self.erased: dict[str, int] = dict(erased or {})
        self.latest = max(self.erased.values(), default=0)  # the latest erasure, epoch ms
        self._lock = threading.Lock()
        self.loaded_at = 0.0

    def __bool__(self) -> bool:
        return bool(self.erased)

    def load(self, clickhouse: Any) -> Tombstones:
        """(Re)read every tombstone."""
        _, rows = clickhouse.query(
            "SELECT subject, toUnixTimestamp64Milli(max(erased_at)) "
            f"FROM {clickhouse.database}.erasures GROUP BY subject"
        )
        erased = {digest: int(at) for digest, at in rows}
        with self._lock:
            self.latest = max(erased.values(), default=0)
            self.erased = erased
            self.loaded_at = time.monotonic()
        return self

    def reload_every(self, clickhouse: Any, seconds: float) -> None:
        """Reload when the last load is older than ``seconds`` (a failed read keeps the set)."""
        if time.monotonic() - self.loaded_at < seconds:
            return
        try:
            self.load(clickhouse)
        except Exception:
            self.loaded_at = time.monotonic()
            log.exception("privacy.tombstones_reload_failed")

    def add(self, subjects: Iterable[str], erased_at: int) -> None:
        with self._lock:
            for digest in subjects:
                self.erased[digest] = max(erased_at, self.erased.get(digest, 0))
            self.latest = max(self.latest, erased_at)

    def erased_before(self, project_id: str, key: str, received_at: int) -> bool:
        at = self.erased.get(subject(project_id, key))
        return at is not None and received_at <= at

    def drops(self, project_id: str, visitor_id: str, user_id: str, received_at: int) -> bool:
        """Whether an event (or a row made from one) received at ``received_at`` belongs to a
        subject erased after it. Free while nothing was erased."""
        if received_at > self.latest or not self.erased:
            return False
        if visitor_id and self.erased_before(project_id, visitor_id, received_at):
            return True
        return bool(user_id) and self.erased_before(project_id, user_key(user_id), received_at)


def record(clickhouse: Any, project_id: str, subjects: list[str], erased_at: int) -> None:
    """Store the tombstones (before anything is deleted: an erase that stops half-way is still
    honoured by replays, and running it again finishes it)."""
    from pipeline.sink.rows import Block

    count = len(subjects)
    clickhouse.insert(
        Block(
            "erasures",
            ("project_id", "subject", "erased_at"),
            [[project_id] * count, subjects, [erased_at] * count],
        )
    )
