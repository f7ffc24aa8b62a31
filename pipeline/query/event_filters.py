"""``GET /v1/events``: filters -> parameterised SQL over ``events_resolved``, rows -> JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from pipeline.errors import ApiError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
STRING_FILTERS = (
    "event",
    "channel",
    "type",
    "visitor_id",
    "user_id",
    "session_id",
    "message_id",
    "url",
    "path",
    "referrer",
    "referrer_domain",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device_type",
    "device_brand",
    "device_model",
    "country",
    "region",
    "city",
    "locale",
    "screen",
    "title",
)
BOOL_FILTERS = ("is_bot", "notify")
SESSION_BOOL_FILTERS = ("is_bounce", "is_bot")
# Filters that are an expression rather than a column: a session is a bot's when its first
# event is (the sessions table keeps that event's device type, not the flag).
SESSION_EXPRESSIONS = {"is_bot": "(device_type = 'bot')"}
SESSION_STRING_FILTERS = (
    "session_id",
    "visitor_id",
    "user_id",
    "entry_path",
    "exit_path",
    "referrer_domain",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "browser",
    "os",
    "device_type",
)
JSON_COLUMNS = ("properties", "traits")


@dataclass(frozen=True, slots=True)
class EventQuery:
    where: str
    parameters: dict[str, Any]
    limit: int
    offset: int


def _epoch_ms(name: str, value: str) -> int:
    try:
        if value.lstrip("-").isdigit():
            return int(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_field", f"{name}: ISO 8601 or epoch ms", name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def openapi_parameters(
    string_filters: tuple[str, ...] = STRING_FILTERS, bool_filters: tuple[str, ...] = BOOL_FILTERS
) -> dict[str, Any]:
    """The query parameters ``build_query`` understands, for the OpenAPI document."""

    def param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}  # fmt: skip

    flag = {"type": "string", "enum": ["true", "false", "1", "0"]}
    time = {"type": "string", "description": "ISO 8601 or epoch milliseconds"}
    notes = {"is_bot": "true: only bot traffic; false: none of it; absent: every event"}
    return {
        "parameters": [
            *(param(name, {"type": "string"}, "exact match") for name in string_filters),
            *(param(name, flag, notes.get(name, "")) for name in bool_filters),
            param("include_bots", flag, "older switch: false leaves bots out; true, nothing"),
            param("start", time, "timestamp >= start"),
            param("end", time, "timestamp < end"),
            param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            param("offset", {"type": "integer", "minimum": 0}),
        ]
    }


def _flag(name: str, value: str) -> bool:
    value = value.lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid_field", f"{name}: true or false", name)
    return value in ("true", "1")


def _int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(422, "invalid_field", f"{name}: must be an integer", name) from None
    if not low <= number <= high:
        raise ApiError(422, "invalid_field", f"{name}: must be between {low} and {high}", name)
    return number


def build_query(
    project_id: str,
    params: Mapping[str, str],
    string_filters: tuple[str, ...] = STRING_FILTERS,
    bool_filters: tuple[str, ...] = BOOL_FILTERS,
    time_column: str = "timestamp",
    expressions: Mapping[str, str] | None = None,
) -> EventQuery:
    """Filters are exact matches; ``start``/``end`` bound the time (ISO 8601 or epoch ms).

    A raw read returns every event the key's project was sent, bots included: ``is_bot`` is an
    ordinary filter (``true``: only bot traffic, ``false``: none, absent: all). The older
    ``include_bots=false`` leaves bots out too (``true`` changes nothing). ``expressions``
    maps a filter to the SQL it tests, when that is not the column of its name."""
    # The key's project, under a parameter name no filter can take.
    clauses = ["project_id = {tenant:String}"]
    parameters: dict[str, Any] = {"tenant": project_id}
    for name in string_filters:
        if name in params:
            clauses.append(f"{name} = {{{name}:String}}")
            parameters[name] = params[name]
    tested = {name: (expressions or {}).get(name, name) for name in bool_filters}
    for name in bool_filters:
        if name in params:
            clauses.append(f"{tested[name]} = {{{name}:Bool}}")
            parameters[name] = _flag(name, params[name])
    if "include_bots" in params and not _flag("include_bots", params["include_bots"]):
        clauses.append(f"NOT {tested.get('is_bot', 'is_bot')}")
    for name, op in (("start", ">="), ("end", "<")):
        if name in params:
            clauses.append(f"{time_column} {op} fromUnixTimestamp64Milli({{{name}:Int64}}, 'UTC')")
            parameters[name] = _epoch_ms(name, params[name])
    return EventQuery(
        where=" AND ".join(clauses),
        parameters=parameters,
        limit=_int("limit", params.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int("offset", params.get("offset"), 0, 0, 10**9),
    )


def total_from_page(rows: int, q: EventQuery) -> int | None:
    """The total a page already proves (a short page that is not past the end), else None:
    the count query costs a scan as large as the page's, so most reads skip it."""
    if rows < q.limit and (rows or not q.offset):
        return q.offset + rows
    return None


def build_session_query(project_id: str, params: Mapping[str, str]) -> EventQuery:
    return build_query(
        project_id, params, SESSION_STRING_FILTERS, SESSION_BOOL_FILTERS, "start",
        SESSION_EXPRESSIONS,
    )  # fmt: skip


def with_session_bot_flag(
    columns: list[str], rows: list[tuple[Any, ...]], total: int
) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Session rows with ``is_bot`` added (what the ``is_bot`` filter tests), as events show it."""
    if not rows:
        return columns, rows, total
    device = columns.index("device_type")
    return [*columns, "is_bot"], [(*row, row[device] == "bot") for row in rows], total


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def row_to_json(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A ClickHouse row as the API shows it: ``id``, ISO times, JSON objects decoded."""
    out: dict[str, Any] = {}
    for name, value in zip(columns, row, strict=True):
        if name == "event_id":
            out["id"] = str(value)
        elif isinstance(value, datetime):
            out[name] = _iso(value)
        elif isinstance(value, UUID):
            out[name] = str(value)
        elif name in JSON_COLUMNS:
            out[name] = orjson.loads(value) if value else {}
        else:
            out[name] = value
    return out
