"""Pure conversion of stage outputs into insert blocks: column-oriented, or (events, sessions)
records whose fields are the table's columns."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from schemas.records import DeadLetter, EnrichedEvent, FirstTouch, IdentityLink, UserUpdate
from schemas.sessions import Session

NO_TOUCH_AT = 10_413_705_600_000  # 2299-12-31: "no first touch yet" (loses every min())
NO_TOUCH = (NO_TOUCH_AT, "", "", "", "", "", "", "", "")
NO_TRAITS = (0, "{}")
JSON_COLUMNS = frozenset({"properties", "traits"})

EVENT_COLUMNS: tuple[str, ...] = EnrichedEvent.__struct_fields__
IDENTITY_COLUMNS: tuple[str, ...] = ("project_id", "visitor_id", "user_id", "linked_at")
USER_COLUMNS: tuple[str, ...] = (
    "project_id",
    "user_id",
    "first_seen",
    "last_seen",
    "first_touch",
    "traits",
)


@dataclass(frozen=True, slots=True)
class Block:
    """Column-oriented rows for one table."""

    table: str
    column_names: tuple[str, ...]
    columns: list[list[Any]]

    @property
    def row_count(self) -> int:
        return len(self.columns[0]) if self.columns else 0


@dataclass(frozen=True, slots=True)
class RecordBlock:
    """Rows for one table as msgspec records whose field names are its columns: the sink can
    hand them to ClickHouse as JSON lines (encoded in C), or as columns (``columns``).
    ``json_columns`` hold dicts stored as JSON text."""

    table: str
    column_names: tuple[str, ...]
    records: list[Any]
    json_columns: frozenset[str] = frozenset()

    @property
    def row_count(self) -> int:
        return len(self.records)

    @property
    def columns(self) -> list[list[Any]]:
        values = operator.attrgetter(*self.column_names)  # one C call per row, then a transpose
        columns = _columns(list(map(values, self.records)), len(self.column_names))
        for index, name in enumerate(self.column_names):
            if name in self.json_columns:
                columns[index] = [_json(value) for value in columns[index]]
        return columns


InsertBlock = Block | RecordBlock


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode() if value else "{}"


def event_block(events: list[EnrichedEvent]) -> RecordBlock:
    """The events as they are: stages 3-4 are done with them once their batch is handed over."""
    return RecordBlock("events", EVENT_COLUMNS, events, JSON_COLUMNS)


class SessionRow(msgspec.Struct):
    """One row of the ``sessions`` table: a session as it stood when its batch was handed over
    (the ``Session`` itself goes on changing)."""

    session_id: str
    project_id: str
    visitor_id: str
    user_id: str
    start: int
    end: int
    duration_ms: int
    events: int
    pageviews: int
    is_bounce: bool
    entry_path: str
    exit_path: str
    referrer: str
    referrer_domain: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    country: str
    region: str
    city: str
    browser: str
    os: str
    device_type: str
    version: int


SESSION_COLUMNS: tuple[str, ...] = SessionRow.__struct_fields__


def _session_row(s: Session) -> SessionRow:
    return SessionRow(  # positionally: ~6x faster than by keyword
        s.session_id,
        s.project_id,
        s.visitor_id,
        s.user_id,
        s.start,
        s.end,
        s.duration_ms,
        s.events,
        s.pageviews,
        s.is_bounce,
        s.entry_path,
        s.exit_path,
        s.referrer,
        s.referrer_domain,
        s.utm_source,
        s.utm_medium,
        s.utm_campaign,
        s.utm_term,
        s.utm_content,
        s.country,
        s.region,
        s.city,
        s.browser,
        s.os,
        s.device_type,
        s.version,
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def session_block(sessions: list[Session]) -> RecordBlock:
    """The latest version of each session (one row per session id), as it stands now."""
    return RecordBlock(
        "sessions", SESSION_COLUMNS, [_session_row(s) for s in newest_sessions(sessions)]
    )


def identity_block(links: list[IdentityLink]) -> Block:
    rows = [(k.project_id, k.visitor_id, k.user_id, k.linked_at) for k in links]
    return Block("identities", IDENTITY_COLUMNS, _columns(rows, len(IDENTITY_COLUMNS)))


def _touch_tuple(touch: FirstTouch | None) -> tuple[Any, ...]:
    if touch is None:
        return NO_TOUCH
    return (
        touch.at,
        touch.landing_path,
        touch.referrer,
        touch.referrer_domain,
        touch.utm_source,
        touch.utm_medium,
        touch.utm_campaign,
        touch.utm_term,
        touch.utm_content,
    )


def user_block(updates: list[UserUpdate]) -> Block:
    """One row per user of the batch; the table's min/max columns merge rows idempotently."""
    merged: dict[tuple[str, str], list[Any]] = {}
    for u in updates:
        touch = _touch_tuple(u.first_touch)
        traits = (u.seen_at, _json(u.traits)) if u.traits is not None else NO_TRAITS
        row = merged.get((u.project_id, u.user_id))
        if row is None:
            merged[(u.project_id, u.user_id)] = [
                u.project_id,
                u.user_id,
                u.seen_at,
                u.seen_at,
                touch,
                traits,
            ]
            continue
        row[2], row[3] = min(row[2], u.seen_at), max(row[3], u.seen_at)
        row[4], row[5] = min(row[4], touch), max(row[5], traits)
    rows = [tuple(row) for row in merged.values()]
    return Block("users", USER_COLUMNS, _columns(rows, len(USER_COLUMNS)))


def newest_sessions(sessions: Iterable[Session]) -> list[Session]:
    """The highest ``version`` of each session (what the ``sessions`` table keeps anyway)."""
    newest: dict[str, Session] = {}
    for session in sessions:
        kept = newest.get(session.session_id)
        if kept is None or session.version >= kept.version:
            newest[session.session_id] = session
    return list(newest.values())


def batch_blocks(
    events: list[EnrichedEvent],
    sessions: list[Session],
    links: list[IdentityLink],
    users: list[UserUpdate],
    dead_letters: list[DeadLetter] | None = None,
) -> list[InsertBlock]:
    """The blocks of one sink batch in insert order. Links first: an event never shows up
    before the link that resolves its user (and the anonymous-visitor purge never sees it as
    never linked)."""
    return [
        identity_block(links),
        event_block(events),
        session_block(sessions),
        user_block(users),
        dead_letter_block(dead_letters or []),
    ]


DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "dead_id",
    "project_id",
    "failed_at",
    "stage",
    "reason",
    "record",
    "record_type",
    "encoding",
    "topic",
    "partition",
    "offset",
    "replayed_at",
    "version",
)


def dead_letter_block(letters: list[DeadLetter], replayed_at: int | None = None) -> Block:
    """Rows of ``dead_letters``; with ``replayed_at`` (epoch ms) the rows that mark them
    replayed (same ``dead_id``, higher ``version``)."""
    rows_ = [
        (
            d.dead_id,
            d.project_id,
            d.failed_at,
            d.stage,
            d.reason,
            d.record,
            d.record_type,
            d.encoding,
            d.topic,
            d.partition,
            d.offset,
            replayed_at,
            max(d.failed_at, replayed_at or 0),
        )
        for d in letters
    ]
    return Block("dead_letters", DEAD_LETTER_COLUMNS, _columns(rows_, len(DEAD_LETTER_COLUMNS)))
