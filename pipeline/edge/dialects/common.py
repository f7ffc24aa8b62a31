"""What the dialect adapters share: flattening nested properties onto the native flat ones,
building a ``NativeEvent`` under its own validation rules, and ingestion-warning rows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from fastapi.concurrency import run_in_threadpool

from pipeline.edge.context import Edge
from pipeline.edge.errors import (
    ApiError,
    from_rule_error,
    from_validation_error,
    payload_too_large,
)
from pipeline.edge.ingest import Limits
from pipeline.edge.jsonbody import encoded_size
from pipeline.sink.rows import Block
from schemas.events import INT64, EventRuleError, NativeEvent

log = structlog.get_logger(__name__)

WARNING_COLUMNS = ("project_id", "source", "type", "details", "timestamp")
MAX_FLAT_DEPTH = 8


def flatten(
    values: Any, prefix: str = "", dropped: list[tuple[str, Any, Any]] | None = None
) -> dict[str, Any]:
    """Nested objects become dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists, and
    objects nested deeper than ``MAX_FLAT_DEPTH``, become their JSON text; integers outside
    64 bits become their exact text. Scalars (string, number, boolean, null) stay as they are.
    When two keys flatten to the same name (``"a.b"`` and ``{"a": {"b"}}``) the first one in
    the document wins; the others are appended to ``dropped`` as ``(name, dropped, kept)``."""
    out: dict[str, Any] = {}
    if isinstance(values, dict):
        _flatten_into(out, values, prefix, 0, dropped)
    return out


def _flatten_into(
    out: dict[str, Any],
    values: dict[str, Any],
    prefix: str,
    depth: int,
    dropped: list[tuple[str, Any, Any]] | None,
) -> None:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < MAX_FLAT_DEPTH:
            _flatten_into(out, value, f"{name}.", depth + 1, dropped)
            continue
        if isinstance(value, dict | list):
            value = msgspec.json.encode(value).decode()
        elif isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
            value = str(value)
        if name in out:
            if dropped is not None:
                dropped.append((name, value, out[name]))
            continue
        out[name] = value


def collisions(
    dropped: list[tuple[str, Any, Any]], field: str, **ids: Any
) -> list[IngestionWarning]:
    """``property_key_collision`` warning rows for what ``flatten`` dropped under ``field``."""
    return [
        IngestionWarning(
            "property_key_collision",
            {"key": f"{field}.{name}", "dropped": value, "kept": kept, **ids},
        )
        for name, value, kept in dropped
    ]


def check_event_size(item: Any, limits: Limits) -> None:
    """``413 payload_too_large`` past ``limits.max_event_bytes`` as compact JSON: the same
    per-event limit as the native API, whatever envelope (or gzip) carried the event."""
    if encoded_size(item) > limits.max_event_bytes:
        raise payload_too_large(limits.max_event_bytes, "the event")


def text_id(value: Any) -> str | None:
    """An identifier as text (numbers are accepted as their text); empty means absent."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def parse_time(value: Any, field: str) -> int | None:
    """ISO 8601 text or epoch milliseconds -> epoch ms; ``ApiError`` 422 when unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
    raise ApiError(422, "invalid_field", f"{field}: not an ISO 8601 time", field)


def native_event(
    fields: dict[str, Any], sender_field: Callable[[str | None], str | None] | None = None
) -> NativeEvent:
    """``fields`` (``None`` values left out) as a ``NativeEvent`` under its own rules;
    ``ApiError`` (field, reason) if not. ``sender_field`` renames the native field in the error
    (and its message) to the name the sender used."""
    clean = {k: v for k, v in fields.items() if v is not None}
    try:
        return msgspec.convert(clean, NativeEvent)
    except msgspec.ValidationError as exc:
        error = from_validation_error(exc)
    except EventRuleError as exc:
        error = from_rule_error(exc)
    if sender_field is not None:
        error.field = sender_field(error.field)
        error.message = f"{error.field}: {error.message.split(': ', 1)[-1]}"
    raise error from None


@dataclass(frozen=True, slots=True)
class IngestionWarning:
    """One row of ``ingestion_warnings`` (``details`` never holds an IP)."""

    type: str
    details: dict[str, Any]


async def record_warnings(
    edge: Edge, project_id: str, source: str, warnings: list[IngestionWarning]
) -> None:
    """Insert the warnings; a failed insert is logged (the request's events are kept)."""
    if not warnings:
        return
    now = int(time.time() * 1000)
    rows = [(project_id, source, w.type, json.dumps(w.details, default=str), now) for w in warnings]
    columns = [list(column) for column in zip(*rows, strict=True)]
    block = Block("ingestion_warnings", WARNING_COLUMNS, columns)
    for warning in warnings:
        log.warning("edge.ingestion_warning", source=source, type=warning.type)
    try:
        await run_in_threadpool(edge.services.clickhouse.insert, block)
    except Exception as exc:  # the events are already accepted; the loss is logged loudly
        log.error("edge.ingestion_warning_not_stored", error=str(exc), count=len(warnings))
