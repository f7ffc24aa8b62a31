"""The privacy dashboard's request checks and mapping: its event documents -> native events,
stored rows -> its answers, and its ``{error: CODE, message}`` error shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
from fastapi import Request
from fastapi.responses import JSONResponse

from pipeline.edge.errors import (
    ApiError,
    from_rule_error,
    from_validation_error,
)
from pipeline.registry.websites import Website, is_tracking_code
from schemas.events import PROPERTY_TYPES, EventRuleError, NativeEvent

EVENT_TYPES = ("pageview", "click", "custom")
DEVICE_TYPES = ("mobile", "tablet", "desktop")
FIELDS = frozenset(
    {"trackingCode", "eventType", "url", "referrer", "sessionId", "visitorId", "deviceType",
     "browser", "os", "location", "timestamp", "properties"}
)  # fmt: skip
DECLARED = {"deviceType": "$device_type", "browser": "$browser", "os": "$os",
            "location": "$location"}  # fmt: skip
MAX_TEXT = 2048
HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}  # the router's own errors
BAD_CODE_ONLY = {"trackingCode": ["Invalid tracking code format"]}
ITEM_STATUS = {"VALIDATION_ERROR": 400, "NOT_FOUND": 404, "PAYLOAD_TOO_LARGE": 413}
_decode = msgspec.json.Decoder()

FieldErrors = dict[str, list[str]]


class Invalid(Exception):
    """A ``VALIDATION_ERROR`` with zod-style ``fieldErrors``."""

    def __init__(self, field_errors: FieldErrors, message: str = "Invalid event data") -> None:
        super().__init__(message)
        self.field_errors, self.message = field_errors, message

    def body(self) -> dict[str, Any]:
        return {
            "error": "VALIDATION_ERROR",
            "message": self.message,
            "details": {"fieldErrors": self.field_errors},
        }


def error_answer(request: Request, error: ApiError) -> JSONResponse | None:
    """The edge's errors (size, key, rate, 503) in the original's shape ``{error: CODE,
    message}``; bad input is its ``400 VALIDATION_ERROR``. AscendKit's server SDK, which posts
    to ``/api/v1/events`` too, gets the native body (None)."""
    from pipeline.edge.dialects import ascendkit

    if ascendkit.is_server_call(request):
        return None
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    if error.status in (400, 422):
        body = Invalid({error.field or "body": [error.message]}).body()
        return JSONResponse(body, 400, headers)
    code = HTTP_CODES.get(error.status, "HTTP_ERROR") if error.error == "http_error" else None
    body = {"error": code or error.error.upper(), "message": error.message}
    return JSONResponse(body, error.status, headers)


def _not_found(code: str) -> dict[str, str]:
    return {"error": "NOT_FOUND", "message": f'Website with tracking code "{code}" not found'}


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


def _text(doc: Mapping[str, Any], name: str, errors: FieldErrors, required: bool) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            errors.setdefault(name, []).append("Required")
        return None
    if not isinstance(value, str):
        errors.setdefault(name, []).append(f"Expected string, received {_kind(value)}")
        return None
    if required and not value:
        errors.setdefault(name, []).append("String must contain at least 1 character(s)")
    if len(value) > MAX_TEXT:
        errors.setdefault(name, []).append(f"String must contain at most {MAX_TEXT} character(s)")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def validate(doc: Any) -> dict[str, Any]:
    """The event's fields, checked as the original's zod schema does; raises ``Invalid``."""
    if not isinstance(doc, dict):
        raise Invalid({"event": [f"Expected object, received {_kind(doc)}"]})
    errors: FieldErrors = {}
    for name in sorted(set(doc) - FIELDS):
        errors[name] = [f"Unrecognized key: '{name}'"]
    out = {name: _text(doc, name, errors, True)
           for name in ("trackingCode", "eventType", "url", "sessionId", "visitorId")}  # fmt: skip
    for name in ("referrer", "deviceType", "browser", "os", "location"):
        out[name] = _text(doc, name, errors, False)
    if out["trackingCode"] and not is_tracking_code(out["trackingCode"]):
        errors.setdefault("trackingCode", []).append("Invalid tracking code format")
    for name, allowed in (("eventType", EVENT_TYPES), ("deviceType", DEVICE_TYPES)):
        if out[name] is not None and out[name] not in allowed:
            expected = " | ".join(f"'{a}'" for a in allowed)
            errors.setdefault(name, []).append(
                f"Invalid enum value. Expected {expected}, received '{out[name]}'"
            )
    for name in ("url", "referrer"):
        if out[name] and not _is_url(out[name]):
            errors.setdefault(name, []).append("Invalid url")
    timestamp = doc.get("timestamp")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
        errors["timestamp"] = [f"Expected number (epoch ms), received {_kind(timestamp)}"]
    out["timestamp"] = timestamp
    properties = doc.get("properties")
    if properties is not None and not isinstance(properties, dict):
        errors["properties"] = [f"Expected object, received {_kind(properties)}"]
    for key, value in (properties or {}).items() if isinstance(properties, dict) else ():
        if not isinstance(value, PROPERTY_TYPES):
            errors[f"properties.{key}"] = ["Expected string, number, boolean or null"]
    out["properties"] = properties
    if errors:
        raise Invalid(errors)
    return out


def to_native(fields: Mapping[str, Any], website: Website) -> NativeEvent:
    """A validated privacy-dashboard event as a ``NativeEvent`` of ``website``."""
    properties = dict(fields["properties"] or {})
    properties.update({DECLARED[k]: fields[k] for k in DECLARED if fields[k] is not None})
    page = {"url": fields["url"]}
    if fields["referrer"]:
        page["referrer"] = fields["referrer"]
    native = {
        "type": "page" if fields["eventType"] == "pageview" else "track",
        "event": fields["eventType"],
        "channel": website.website_id,
        "visitor_id": fields["visitorId"],
        "session_id": fields["sessionId"],
        "properties": properties,
        "context": {"page": page},
    }
    if fields["timestamp"] is not None:
        native["timestamp"] = fields["timestamp"]
    try:
        return msgspec.convert(native, NativeEvent)
    except EventRuleError as exc:
        error = from_rule_error(exc)
    except msgspec.ValidationError as exc:
        error = from_validation_error(exc)
    names = {"visitor_id": "visitorId", "session_id": "sessionId", "timestamp": "timestamp"}
    field = names.get(error.field or "", error.field or "event")
    raise Invalid({field: [error.message.split(": ", 1)[-1]]})


def _iso(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def created_event(fields: Mapping[str, Any], website: Website, event_id: str, ts: int) -> dict:
    """The ``201`` answer: the stored event as the original shows it."""
    out = {
        "id": event_id,
        "websiteId": website.website_id,
        "eventType": fields["eventType"],
        "url": fields["url"],
        "referrer": fields["referrer"],
        "sessionId": fields["sessionId"],
        "visitorId": fields["visitorId"],
        **{name: fields[name] for name in DECLARED},
        "createdAt": _iso(ts),
    }
    if fields["properties"] is not None:
        out["properties"] = fields["properties"]
    return out


def row_to_event(row: Mapping[str, Any], with_site: bool) -> dict[str, Any]:
    """A stored row as the original's event: declared device fields, else the enrichment."""
    props = dict(row["properties"])
    declared = {name: props.pop(key, None) for name, key in DECLARED.items()}
    enriched = {"deviceType": row["device_type"], "browser": row["browser"], "os": row["os"],
                "location": row["country"]}  # fmt: skip
    out: dict[str, Any] = {"id": row["id"]}
    if with_site:
        out["websiteId"] = row["channel"]
    out |= {
        "eventType": row["event"],
        "url": row["url"],
        "referrer": row["referrer"] or None,
        "sessionId": row["session_id"],
        "visitorId": row["visitor_id"],
    }
    out |= {name: declared[name] or enriched[name] or None for name in DECLARED}
    if with_site:
        out["properties"] = props or None
    out["createdAt"] = row["timestamp"]
    return out
