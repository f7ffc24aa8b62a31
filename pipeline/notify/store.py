"""Destinations, rules, the outbox and the delivery log in ClickHouse (015_notifications.sql).

A change or deletion of a destination or rule is a newer row (ReplacingMergeTree); so is a
delivery's status in the outbox (pending -> sent | dead). Every attempt is a row of
``notification_deliveries``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipeline.notify.config import Destination, Rule
from pipeline.sink.rows import Block

DESTINATION_COLUMNS = (
    "project_id", "destination_id", "name", "kind", "url", "secret", "email_to", "all_notify",
    "deleted", "updated_at",
)  # fmt: skip
RULE_COLUMNS = (
    "project_id", "rule_id", "destination_id", "kind", "event_pattern", "channel", "filter",
    "threshold", "window_seconds", "cooldown_seconds", "deleted", "updated_at",
)  # fmt: skip
OUTBOX_COLUMNS = (
    "delivery_id", "project_id", "destination_id", "rule_id", "event_id", "created_at",
    "payload", "status", "attempts", "updated_at",
)  # fmt: skip
ATTEMPT_COLUMNS = (
    "delivery_id", "project_id", "destination_id", "event_id", "attempt", "at", "status",
    "latency_ms", "response_code", "error",
)  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Pending:
    """One delivery of the outbox: an event (or alert) ``payload`` for one destination."""

    delivery_id: str
    project_id: str
    destination_id: str
    rule_id: str
    event_id: str
    created_at: int  # epoch ms: when the event was received (the delivery lag counts from it)
    payload: str  # the event as JSON
    attempts: int = 0

    def row(self, status: str, updated_at: int) -> tuple[Any, ...]:
        return (
            self.delivery_id, self.project_id, self.destination_id, self.rule_id, self.event_id,
            self.created_at, self.payload, status, self.attempts, updated_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery: Pending
    attempt: int
    at: int
    status: str  # sent | failed | dead
    latency_ms: float
    response_code: int
    error: str

    def row(self) -> tuple[Any, ...]:
        d = self.delivery
        return (
            d.delivery_id, d.project_id, d.destination_id, d.event_id, self.attempt, self.at,
            self.status, self.latency_ms, self.response_code, self.error[:300],
        )  # fmt: skip


def outbox_block(rows: list[tuple[Any, ...]]) -> Block:
    return Block("notification_outbox", OUTBOX_COLUMNS, [list(c) for c in zip(*rows, strict=True)])


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


class NotifyStore:
    """Reads and writes the notification tables through a ClickHouse client (the sink's, or
    ``RemoteClickHouse`` in the embedded edge)."""

    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse

    @property
    def db(self) -> str:
        return self.clickhouse.database

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if rows:
            columns_of = [list(c) for c in zip(*rows, strict=True)]
            self.clickhouse.insert(Block(table, columns, columns_of))

    # destinations and rules
    def destinations(self, project_id: str | None = None) -> list[Destination]:
        where = "AND project_id = {p:String}" if project_id else ""
        _, rows = self.clickhouse.query(
            f"SELECT {', '.join(DESTINATION_COLUMNS[:8])} FROM {self.db}.notification_destinations"
            f" FINAL WHERE NOT deleted {where} ORDER BY updated_at",
            {"p": project_id} if project_id else {},
        )
        return [Destination(*row[:7], bool(row[7])) for row in rows]

    def rules(self, project_id: str | None = None) -> list[Rule]:
        where = "AND project_id = {p:String}" if project_id else ""
        _, rows = self.clickhouse.query(
            f"SELECT {', '.join(RULE_COLUMNS[:10])} FROM {self.db}.notification_rules"
            f" FINAL WHERE NOT deleted {where} ORDER BY updated_at",
            {"p": project_id} if project_id else {},
        )
        return [Rule(*row[:7], *(int(v) for v in row[7:10])) for row in rows]

    def put_destination(self, d: Destination, deleted: bool = False) -> None:
        row = (*(getattr(d, c) for c in DESTINATION_COLUMNS[:8]), deleted, now_ms())
        self._insert("notification_destinations", DESTINATION_COLUMNS, [row])

    def put_rule(self, r: Rule, deleted: bool = False) -> None:
        row = (*(getattr(r, c) for c in RULE_COLUMNS[:10]), deleted, now_ms())
        self._insert("notification_rules", RULE_COLUMNS, [row])

    def delete_destination(self, project_id: str, destination_id: str) -> bool:
        found = [d for d in self.destinations(project_id) if d.destination_id == destination_id]
        for d in found:
            self.put_destination(d, deleted=True)
        return bool(found)

    def delete_rule(self, project_id: str, rule_id: str) -> bool:
        found = [r for r in self.rules(project_id) if r.rule_id == rule_id]
        for r in found:
            self.put_rule(r, deleted=True)
        return bool(found)

    # the outbox
    def outbox(
        self,
        status: str,
        project_id: str | None = None,
        limit: int = 100_000,
        changed_since_ms: int = 0,
        *,
        created_before_ms: int = 0,
        repended: bool = False,
    ) -> list[Pending]:
        """Deliveries of a ``status``, oldest first; ``changed_since_ms`` skips those whose
        status last changed before (cheap: the ``updated_at`` index skips old parts),
        ``created_before_ms`` newer ones, and ``repended`` keeps only those set to ``status``
        after they were stored (replayed dead letters)."""
        where = "AND project_id = {p:String}" if project_id else ""
        if created_before_ms:
            where += " AND created_at < fromUnixTimestamp64Milli({before:Int64}, 'UTC')"
        if repended:
            where += " AND updated_at > created_at"
        _, rows = self.clickhouse.query(
            f"SELECT {', '.join(OUTBOX_COLUMNS[:7])}, attempts FROM {self.db}.notification_outbox"
            f" FINAL WHERE status = {{s:String}} {where}"
            " AND updated_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
            f" ORDER BY created_at, delivery_id LIMIT {int(limit)}",
            {"s": status, "p": project_id or "", "since": changed_since_ms,
             "before": created_before_ms},
        )  # fmt: skip
        return [Pending(*row[:5], _ms(row[5]), row[6], int(row[7])) for row in rows]

    def set_status(self, deliveries: list[Pending], status: str) -> None:
        self.set_statuses([(d, status) for d in deliveries])

    def set_statuses(self, changes: list[tuple[Pending, str]]) -> None:
        """Each delivery's new status, in one insert."""
        at = now_ms()
        self._insert("notification_outbox", OUTBOX_COLUMNS, [d.row(s, at) for d, s in changes])

    def add_pending(self, deliveries: list[Pending]) -> None:
        self.set_status(deliveries, "pending")

    def record(self, attempts: list[Attempt]) -> None:
        self._insert("notification_deliveries", ATTEMPT_COLUMNS, [a.row() for a in attempts])

    def attempts(self, project_id: str, status: str = "", limit: int = 100) -> list[dict[str, Any]]:
        where = "AND status = {s:String}" if status else ""
        _, rows = self.clickhouse.query(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM {self.db}.notification_deliveries"
            f" WHERE project_id = {{p:String}} {where} ORDER BY at DESC, attempt DESC"
            f" LIMIT {int(limit)}",
            {"p": project_id, "s": status},
        )
        out = [dict(zip(ATTEMPT_COLUMNS, row, strict=True)) for row in rows]
        for item in out:
            item["at"] = _ms(item["at"])
        return out

    def replay(self, project_id: str, delivery_ids: list[str] | None = None) -> list[Pending]:
        """Dead letters (of ``delivery_ids``, or all of the project) back to pending, with
        their attempts counted afresh; the delivery worker picks them up."""
        dead = [
            d for d in self.outbox("dead", project_id)
            if delivery_ids is None or d.delivery_id in delivery_ids
        ]  # fmt: skip
        for d in dead:
            d.attempts = 0
        self.set_status(dead, "pending")
        return dead

    def last_fired(self, rule_id: str, within_ms: int) -> int:
        """When a threshold rule last fired within ``within_ms`` (epoch ms, 0 = not then)."""
        _, rows = self.clickhouse.query(
            f"SELECT max(created_at) FROM {self.db}.notification_outbox"
            " WHERE rule_id = {r:String}"
            " AND updated_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')",
            {"r": rule_id, "since": now_ms() - within_ms},
        )
        return _ms(rows[0][0]) if rows and rows[0][0] else 0
