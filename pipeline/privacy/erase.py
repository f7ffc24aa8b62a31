"""Right to be forgotten: erase one user's events, sessions, identities and profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)


class SqlRunner(Protocol):
    database: str

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any: ...

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class Erased:
    visitors: list[str]
    events: int
    sessions: int
    identities: int
    users: int


def count_then_delete(ch: SqlRunner, table: str, where: str, params: dict[str, Any]) -> int:
    """Lightweight DELETE (rows vanish from queries at once); returns how many rows matched."""
    _, rows = ch.query(f"SELECT count() FROM {ch.database}.{table} WHERE {where}", params)
    count = int(rows[0][0])
    if count:
        ch.command(f"DELETE FROM {ch.database}.{table} WHERE {where}", params)
    return count


def erase_user(ch: SqlRunner, project_id: str, user_id: str) -> Erased:
    """Delete everything stored about ``user_id``: events it sent or that its visitors sent
    (before or after identifying), their sessions, the identity links and the user record."""
    _, rows = ch.query(
        f"SELECT DISTINCT visitor_id FROM {ch.database}.identities "
        "WHERE project_id = {p:String} AND user_id = {u:String}",
        {"p": project_id, "u": user_id},
    )
    visitors = sorted(row[0] for row in rows)
    params = {"p": project_id, "u": user_id, "v": visitors, "k": f"user:{user_id}"}
    owned = "project_id = {p:String} AND (user_id = {u:String} OR visitor_id IN {v:Array(String)}"
    erased = Erased(
        visitors=visitors,
        events=count_then_delete(ch, "events", owned + ")", params),
        sessions=count_then_delete(ch, "sessions", owned + " OR visitor_id = {k:String})", params),
        identities=count_then_delete(
            ch, "identities", "project_id = {p:String} AND user_id = {u:String}", params
        ),
        users=count_then_delete(
            ch, "users", "project_id = {p:String} AND user_id = {u:String}", params
        ),
    )
    log.info(
        "privacy.user_erased",
        project_id=project_id,
        visitors=len(visitors),
        events=erased.events,
        sessions=erased.sessions,
    )
    return erased
