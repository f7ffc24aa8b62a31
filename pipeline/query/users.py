"""A user's profile (``GET /v1/users/{id}``): traits, first-touch attribution, counts, sessions,
revenue and recent events — with the visitor's events before signup counted as the user's
(``resolved.source``'s rule). Bots' events are included: this is one person's record.

An erased user (a tombstone for ``user:<id>`` in ``erasures``) is unknown unless events of theirs
were received after the erasure (new data)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from pipeline.privacy.tombstones import subject
from schemas.keys import user_key

Run = Callable[[str, Mapping[str, Any]], Awaitable[tuple[list[str], list[tuple[Any, ...]]]]]
TOUCH = ("landing_path", "referrer", "referrer_domain", "utm_source", "utm_medium",
         "utm_campaign", "utm_term", "utm_content")  # fmt: skip
EVENT_COLUMNS = ("event_id", "type", "event", "timestamp", "session_id", "visitor_id", "channel",
                 "path", "url", "referrer", "country", "browser", "os", "device_type",
                 "properties", "revenue_amount", "revenue_currency", "received_at",
                 "is_bot")  # fmt: skip
SESSION_COLUMNS = ("session_id", "visitor_id", "start", "end", "duration_ms", "events",
                   "pageviews", "is_bounce", "entry_path", "exit_path", "referrer_domain",
                   "utm_source", "utm_medium", "utm_campaign", "country", "browser", "os",
                   "device_type")  # fmt: skip
MAX_LIMIT = 100


def iso(value: datetime) -> str:
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_row(columns: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(columns, row, strict=True):
        if isinstance(value, datetime):
            value = iso(value)
        elif isinstance(value, UUID):
            value = str(value)
        elif name in ("properties", "traits"):
            value = orjson.loads(value) if value else {}
        out["id" if name == "event_id" else name] = value
    return out


def _events(database: str) -> str:
    """The user's events (all time, each once): ``resolved.source``'s rule without its join.
    ``{visitors:Array(String)}`` are the visitors first linked to the user, ``{own:UInt8}`` says
    whether the user's id as a visitor id (a provisional user) is linked to nobody."""
    columns = ", ".join(f"e.{c} AS {c}" for c in EVENT_COLUMNS)
    return (
        f"(SELECT {columns} FROM {database}.events AS e "
        "WHERE e.project_id = {project:String} AND ("
        "(e.user_id = {user:String} AND (e.user_id != e.visitor_id OR {own:UInt8})) "
        "OR (e.user_id IN ('', e.visitor_id) AND e.visitor_id IN {visitors:Array(String)})) "
        "LIMIT 1 BY e.event_id)"
    )


async def profile(
    run: Run, database: str, project_id: str, user_id: str, limit: int
) -> dict[str, Any] | None:
    """The profile, or None when the project has no such user (or it was erased)."""
    params: dict[str, Any] = {
        "project": project_id,
        "user": user_id,
        "subject": subject(project_id, user_key(user_id)),
    }
    _, linked = await run(
        # each visitor's first link (the rule of events_resolved), for the user's visitors
        "SELECT visitor_id, argMin(user_id, linked_at) AS first FROM "
        f"{database}.identities WHERE project_id = {{project:String}} AND visitor_id IN "
        f"(SELECT visitor_id FROM {database}.identities WHERE project_id = {{project:String}} "
        "AND (user_id = {user:String} OR visitor_id = {user:String})) GROUP BY visitor_id",
        params,
    )
    params["visitors"] = sorted(v for v, first in linked if first == user_id)
    params["own"] = int(user_id not in {v for v, _ in linked})
    events = _events(database)
    _, stats = await run(
        "SELECT count(), countIf(type = 'page'), groupUniqArrayIf(session_id, session_id != ''), "
        "min(timestamp), max(timestamp), max(received_at), groupUniqArray(visitor_id), "
        "groupArrayIf((revenue_currency, revenue_amount), revenue_amount IS NOT NULL) "
        f"FROM {events}",
        params,
    )
    count, pageviews, sessions, first, last, received, visitors, payments = stats[0]
    _, erased = await run(
        f"SELECT max(erased_at), count() FROM {database}.erasures "
        "WHERE project_id = {project:String} AND subject = {subject:String}",
        params,
    )
    if erased[0][1] and (not count or received <= erased[0][0]):
        return None
    touch_columns = ", ".join(f"first_{name}" for name in TOUCH)
    columns, users = await run(
        f"SELECT first_seen, last_seen, traits, touch.at < toDateTime64('2299-01-01', 3, 'UTC') "
        f"AS touched, {touch_columns} FROM {database}.users_current "
        "WHERE project_id = {project:String} AND user_id = {user:String}",
        params,
    )
    if not users and not count:
        return None
    body: dict[str, Any] = {"user_id": user_id, "traits": {}, "first_touch": None}
    if users:
        row = dict(zip(columns, users[0], strict=True))
        body["traits"] = orjson.loads(row["traits"]) if row["traits"] else {}
        if row["touched"]:
            body["first_touch"] = {name: row[f"first_{name}"] for name in TOUCH}
        first = min(first, row["first_seen"]) if count else row["first_seen"]
        last = max(last, row["last_seen"]) if count else row["last_seen"]
    body |= {
        "first_seen": iso(first),
        "last_seen": iso(last),
        "visitors": sorted(v for v in visitors if v),
        "counts": {"events": int(count), "pageviews": int(pageviews), "sessions": len(sessions)},
    }
    money: dict[str, list[float]] = {}
    for currency, amount in payments:
        money.setdefault(currency, []).append(amount)
    body["revenue"] = [
        {"currency": c, "total": round(sum(money[c]), 6), "events": len(money[c])}
        for c in sorted(money)
    ]
    session_list = ", ".join(f"`{c}`" for c in SESSION_COLUMNS)
    columns, rows = await run(
        f"SELECT {session_list} FROM {database}.sessions FINAL "
        "WHERE project_id = {project:String} AND session_id IN {sessions:Array(String)} "
        f"ORDER BY start DESC, session_id LIMIT {limit}",
        params | {"sessions": sessions},
    )
    body["sessions"] = [json_row(columns, row) for row in rows]
    shown = ", ".join(c for c in EVENT_COLUMNS if c != "received_at")
    columns, rows = await run(
        f"SELECT {shown} FROM {events} ORDER BY timestamp DESC, event_id LIMIT {limit}", params
    )
    body["recent_events"] = [json_row(columns, row) for row in rows]
    return body
