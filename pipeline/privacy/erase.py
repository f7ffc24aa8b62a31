"""Right to be forgotten: erase one user's events, sessions, identities, profile, dead letters
and ingestion warnings, durably and without leaving the ids on disk.

The order matters: the tombstones go in first (so a replay, or an erase that stops half-way,
cannot bring the user back), then every table is rewritten by a mutation (``ALTER ... DELETE``:
the rows leave the data parts, where a lightweight ``DELETE`` would only mask them). A mutation's
text is kept on disk (``mutation_*.txt``), so it names rows by SHA-256 digests of their subject
(see ``tombstones``), never by an id; the reads that find them are kept out of the query log.
The parts a mutation replaced stay on disk until ClickHouse cleans them up: ``drop_outdated_parts``
does that at once with the embedded engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from pipeline.privacy import tombstones
from pipeline.privacy.tombstones import SQL_SUBJECT
from schemas.keys import USER_PREFIX

log = structlog.get_logger(__name__)
NO_LOG = " SETTINGS log_queries = 0"  # a read that names an id stays out of system.query_log
MUTATE = " SETTINGS mutations_sync = 2"
ERASED_TABLES = (
    "events",
    "funnel_steps",
    "sessions",
    "identities",
    "users",
    "dead_letters",
    "ingestion_warnings",
    "plan_violations",
)
# While erasing, replaced parts may go at once (ClickHouse keeps them 8 minutes by default).
QUICK_CLEANUP = (
    "old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0"
)
QUICK_CLEANUP_NAMES = "old_parts_lifetime, cleanup_delay_period, cleanup_delay_period_random_add"


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
    dead_letters: int = 0
    ingestion_warnings: int = 0
    plan_violations: int = 0
    subjects: tuple[str, ...] = ()


def count_then_delete(ch: SqlRunner, table: str, where: str, params: dict[str, Any]) -> int:
    """Lightweight DELETE (rows vanish from queries at once); returns how many rows matched."""
    _, rows = ch.query(f"SELECT count() FROM {ch.database}.{table} WHERE {where}", params)
    count = int(rows[0][0])
    if count:
        ch.command(f"DELETE FROM {ch.database}.{table} WHERE {where}", params)
    return count


def count_then_mutate(ch: SqlRunner, table: str, where: str) -> int:
    """``ALTER TABLE ... DELETE`` (the rows leave the parts); returns how many rows matched.
    ``where`` must name no id: it is stored with the mutation."""
    _, rows = ch.query(f"SELECT count() FROM {ch.database}.{table} WHERE {where}")
    count = int(rows[0][0])
    if count:
        ch.command(f"ALTER TABLE {ch.database}.{table} DELETE WHERE {where}{MUTATE}")
    return count


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"  # hex digests and UUIDs only


def find_visitors(ch: SqlRunner, project_id: str, user_id: str) -> list[str]:
    """The visitors linked to ``user_id`` in the identities table."""
    _, rows = ch.query(
        f"SELECT DISTINCT visitor_id FROM {ch.database}.identities "
        "WHERE project_id = {p:String} AND user_id = {u:String}" + NO_LOG,
        {"p": project_id, "u": user_id},
    )
    return sorted(row[0] for row in rows)


def _mentions(
    ch: SqlRunner, table: str, column: str, key: str, project_id: str, needles: list[str]
) -> list[str]:
    """``key`` of the rows whose ``column`` (a JSON text) mentions one of ``needles``."""
    _, rows = ch.query(
        f"SELECT DISTINCT {key} FROM {ch.database}.{table} "
        f"WHERE project_id IN ({{p:String}}, '') AND multiSearchAny({column}, {{n:Array(String)}})"
        + NO_LOG,
        {"p": project_id, "n": needles},
    )
    return [str(row[0]) for row in rows]


def erase_user(
    ch: SqlRunner,
    project_id: str,
    user_id: str,
    more_visitors: Iterable[str] = (),
    erased_at: int | None = None,
) -> Erased:
    """Delete everything stored about ``user_id``: events it sent or that its visitors sent
    (before or after identifying), their sessions, the identity links, the user record, and dead
    letters and ingestion warnings that name it or its visitors. ``more_visitors``: visitors
    known to be the user's from elsewhere (events not yet stored, e.g. in the spool)."""
    visitors = sorted({*find_visitors(ch, project_id, user_id), *more_visitors})
    subjects = tombstones.user_subjects(project_id, user_id, visitors)
    erased_at = erased_at if erased_at is not None else int(time.time() * 1000)
    tombstones.record(ch, project_id, subjects, erased_at)
    for table in ERASED_TABLES:
        ch.command(f"ALTER TABLE {ch.database}.{table} MODIFY SETTING {QUICK_CLEANUP}")
    listed = _sql_list(subjects)
    of_visitor = SQL_SUBJECT.format(key="visitor_id") + f" IN {listed}"
    of_user = SQL_SUBJECT.format(key=f"concat('{USER_PREFIX}', user_id)") + f" IN {listed}"
    project = f"project_id = '{_safe(project_id)}'"
    owned = f"{project} AND ({of_visitor} OR {of_user})"
    needles = [f'"{value}"' for value in (user_id, *visitors)]
    dead = _mentions(ch, "dead_letters", "record", "dead_id", project_id, needles)
    warned = _mentions(
        ch, "ingestion_warnings", "details", "lower(hex(SHA256(details)))", project_id, needles
    )
    # before the events and dead letters: the tracking-plan violations of the user's stored
    # and blocked events (their values may be personal)
    of_events = f"event_id IN (SELECT event_id FROM {ch.database}.events WHERE {owned})"
    if dead:
        of_events += (
            " OR event_id IN (SELECT JSONExtractString(record, 'event_id') "
            f"FROM {ch.database}.dead_letters WHERE dead_id IN {_sql_list(dead)})"
        )
    violations = count_then_mutate(ch, "plan_violations", f"{project} AND ({of_events})")
    # before the events: funnels' copy of their step columns keeps the ids' hashes only
    count_then_mutate(ch, "funnel_steps", _of_hashes(ch.database, project, of_visitor, of_user))
    erased = Erased(
        visitors=visitors,
        plan_violations=violations,
        events=count_then_mutate(ch, "events", owned),
        sessions=count_then_mutate(ch, "sessions", owned),
        identities=count_then_mutate(ch, "identities", owned),
        users=count_then_mutate(ch, "users", f"{project} AND {of_user}"),
        dead_letters=count_then_mutate(ch, "dead_letters", f"dead_id IN {_sql_list(dead)}")
        if dead
        else 0,
        ingestion_warnings=count_then_mutate(
            ch,
            "ingestion_warnings",
            f"{project} AND lower(hex(SHA256(details))) IN {_sql_list(warned)}",
        )
        if warned
        else 0,
        subjects=tuple(subjects),
    )
    log.info(  # counts only: no id, no trait
        "privacy.user_erased",
        project_id=project_id,
        visitors=len(visitors),
        events=erased.events,
        sessions=erased.sessions,
        dead_letters=erased.dead_letters,
    )
    return erased


def _of_hashes(database: str, project: str, of_visitor: str, of_user: str) -> str:
    """The user's rows in ``funnel_steps`` (schemas/clickhouse/021): those whose visitor or
    user id hash is one of the user's rows' in events, named by digests as there."""
    events = f"{database}.events WHERE {project}"
    return (
        f"{project} AND (vh IN (SELECT cityHash64(visitor_id) FROM {events} AND {of_visitor}) "
        f"OR uh IN (SELECT cityHash64(user_id) FROM {events} AND {of_user}))"
    )


def _safe(project_id: str) -> str:
    if not all(c.isalnum() or c in "_-" for c in project_id):
        raise ValueError("project ids are letters, digits, _ and -")
    return project_id


def drop_outdated_parts(ch: SqlRunner, timeout: float = 60.0) -> int:
    """Wait until ClickHouse has removed the parts the erase's mutations replaced (they hold
    the erased rows), then restore the tables' cleanup settings. Returns the parts left (0).

    With chDB, run it in a fresh engine (a new process): the cleanup task is scheduled with
    the quick settings only when a table is loaded."""
    tables = _sql_list(ERASED_TABLES)
    where = f"database = '{ch.database}' AND table IN {tables} AND NOT active"
    deadline = time.monotonic() + timeout
    while True:
        _, rows = ch.query(f"SELECT count() FROM system.parts WHERE {where}")
        left = int(rows[0][0])
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    for table in ERASED_TABLES:
        ch.command(f"ALTER TABLE {ch.database}.{table} RESET SETTING {QUICK_CLEANUP_NAMES}")
    if left:
        log.warning("privacy.outdated_parts_left", parts=left)
    return left
