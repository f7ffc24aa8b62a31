"""PostHog's capture endpoints: ``/capture``, ``/batch``, ``/e``, ``/i/v0/e`` (with or without
the trailing slash), mapped onto ``NativeEvent`` (``schemas/dialects.md``).

The project token is in the body (``api_key``/``token``, or an event's ``properties.token``).
Bodies are JSON — one event, a list, or ``{"batch": [...]}`` — optionally gzip (told by the
body's magic bytes: posthog-js sends gzip as ``text/plain`` with no hint) or the form
``data=<base64 JSON>``.
Answers as PostHog does: ``200 {"status": 1}``; ``400``/``401``/``413``/``429``/``503`` with
PostHog's ``{"type", "code", "detail", "attr"}``. The edge's limits hold after gunzip/base64:
32 KB per event, 500 KB per request, 64 levels of nesting. Merges on ids PostHog refuses
(``anonymous``, ``null``, ``0``, empty...) are refused here too and recorded in
``ingestion_warnings``, as are property keys that flatten onto one name (the first is kept)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.edge.browser import decode_body
from pipeline.edge.context import Edge
from pipeline.edge.dialects.common import (
    IngestionWarning,
    check_event_size,
    collisions,
    flatten,
    native_event,
    parse_time,
    record_warnings,
    text_id,
)
from pipeline.edge.errors import ApiError, unavailable
from pipeline.edge.jsonbody import nested_too_deep, too_deep
from pipeline.edge.publisher import PublishUnavailableError
from schemas.events import NativeEvent

SOURCE = "posthog"
PATHS = ("/capture", "/batch", "/e", "/i/v0/e")
NO_TOKEN = "API key not provided. You can find your project API key in PostHog project settings."
BAD_TOKEN = (
    "Project API key invalid. You can find your project API key in PostHog project settings."
)
ILLEGAL_MERGE = "cannot_merge_with_illegal_distinct_id"
# Not stored as properties: person updates (-> traits), the token, the IP (used for geo only).
LIFTED = frozenset({"$set", "$set_once", "token", "distinct_id", "$ip"})
GZIP_MAGIC = b"\x1f\x8b"  # JSON and base64 forms never start with these bytes
_decoder = msgspec.json.Decoder()  # integers past 64 bits stay exact (orjson makes floats)

# PostHog's ingestion (plugin-server ``isDistinctIdIllegal``): generic ids that stem from a bug
# never drive a merge; some in any casing, some only as cased; also inside quotes.
_CASE_INSENSITIVE = (
    "anonymous",
    "guest",
    "distinctid",
    "distinct_id",
    "id",
    "not_authenticated",
    "email",
    "undefined",
    "true",
    "false",
)
_CASE_SENSITIVE = ("[object Object]", "NaN", "None", "none", "null", "0", "undefined")


def _quoted(ids: tuple[str, ...]) -> frozenset[str]:
    return frozenset(q for i in ids for q in (i, f"'{i}'", f'"{i}"'))


ILLEGAL_ANY_CASE = _quoted(_CASE_INSENSITIVE)
ILLEGAL_AS_CASED = _quoted(_CASE_SENSITIVE)


def is_illegal_id(distinct_id: str | None) -> bool:
    """Whether PostHog refuses to merge on ``distinct_id`` (absent and blank included)."""
    if distinct_id is None or not distinct_id.strip():
        return True
    return distinct_id.lower() in ILLEGAL_ANY_CASE or distinct_id in ILLEGAL_AS_CASED


# --- pure mapping ------------------------------------------------------------------------------


def invalid(detail: str, attr: str | None = None) -> ApiError:
    return ApiError(400, "invalid_payload", detail, attr)


def decode_payload(body: bytes, content_type: str, limit: int = 500 * 1024) -> Any:
    """The JSON of a capture body: plain, gzip (told by its magic bytes, whatever the hints
    say: ``compression=gzip-js``, or none as current posthog-js sends) or ``data=`` base64;
    at most ``limit`` bytes once gunzipped (413), nested at most 64 levels (400). Integers
    of any size are kept exact."""
    if body[:2] == GZIP_MAGIC:  # posthog-js sends gzip with no hint at all
        body = decode_body({"content-encoding": "gzip"}, body, limit, "the body")
    if "x-www-form-urlencoded" in content_type or body.startswith(b"data="):
        form = parse_qs(body.decode("utf-8", "replace"))
        data = (form.get("data") or [""])[0]
        if not data:
            raise invalid("Malformed request data: the form has no data field", "data")
        try:  # (ValueError: binascii.Error, or text that is not ASCII)
            body = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_")
        except ValueError:
            try:
                body = base64.b64decode(data + "=" * (-len(data) % 4))
            except ValueError as exc:
                detail = f"Malformed request data: data is not base64 ({exc})"
                raise invalid(detail, "data") from None
    if nested_too_deep(body):
        raise invalid(f"Malformed request data: {too_deep().message}")
    try:
        return _decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise invalid(f"Malformed request data: {exc}") from None


def split_payload(payload: Any) -> tuple[list[Any], dict[str, Any]]:
    """``(events, envelope)`` of a single event, a list, or ``{"batch": [...], ...}``."""
    if isinstance(payload, list):
        return payload, {}
    if isinstance(payload, dict):
        if isinstance(payload.get("batch"), list):
            return payload["batch"], payload
        return [payload], payload
    raise invalid("Malformed request data: expected an event, a list or a batch")


def token_of(events: list[Any], envelope: dict[str, Any]) -> str | None:
    """The project token: the envelope's ``api_key``/``token``, else the first event's."""
    for holder in (envelope, *(e for e in events if isinstance(e, dict))):
        props = holder.get("properties") if isinstance(holder.get("properties"), dict) else {}
        for value in (holder.get("api_key"), holder.get("token"), props.get("token")):
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def event_time(event: dict[str, Any], received_at: int, sent_at: Any) -> int | None:
    """PostHog's rules: ``offset`` ms before receipt; else ``timestamp`` corrected by
    ``sent_at`` for clock skew; else ``timestamp`` as sent."""
    offset = event.get("offset")
    if isinstance(offset, int) and not isinstance(offset, bool):
        return received_at - offset
    happened = parse_time(event.get("timestamp"), "timestamp")
    sent = parse_time(event.get("sent_at") or sent_at, "sent_at")
    if happened is None or sent is None:
        return happened
    return received_at - (sent - happened)


def _raw_id(value: Any) -> str | None:
    """An id as sent (blank kept, so it can be refused as illegal); numbers as text."""
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int | float) else None


def _context(props: dict[str, Any]) -> dict[str, Any] | None:
    referrer = props.get("$referrer")
    page = {
        "url": props.get("$current_url"),
        "referrer": None if referrer == "$direct" else referrer,
        "title": props.get("title") if isinstance(props.get("title"), str) else None,
        "path": props.get("$pathname"),
    }
    out: dict[str, Any] = {
        "page": {k: v for k, v in page.items() if v is not None} or None,
        "user_agent": props.get("$raw_user_agent"),
        "locale": props.get("$browser_language"),
        "ip": props.get("$ip"),
    }
    width, height = props.get("$screen_width"), props.get("$screen_height")
    if isinstance(width, int) and isinstance(height, int):
        out["screen"] = {"width": width, "height": height}
    out = {k: v for k, v in out.items() if v is not None}
    return out or None


def _traits(event: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """``$set_once`` then ``$set`` (top level or in properties); ``$set`` wins."""
    traits: dict[str, Any] = {}
    for name in ("$set_once", "$set"):
        for holder in (props, event):
            if isinstance(holder.get(name), dict):
                traits |= holder[name]
    return traits


def to_native(
    event: Any, received_at: int, sent_at: Any = None
) -> tuple[NativeEvent, list[IngestionWarning]]:
    """One PostHog event as a ``NativeEvent`` plus the merges it was refused."""
    if not isinstance(event, dict):
        raise invalid("Invalid payload: every event must be a JSON object")
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise invalid(
            'Invalid payload: All events must have the event name field "event"!', "event"
        )
    props = event.get("properties") if isinstance(event.get("properties"), dict) else {}
    distinct_id = text_id(event.get("distinct_id")) or text_id(props.get("distinct_id"))
    if distinct_id is None:
        raise invalid(
            'Invalid payload: All events must have the event field "distinct_id"!', "distinct_id"
        )
    warnings: list[IngestionWarning] = []
    dropped: list[tuple[str, Any, Any]] = []
    uuid = text_id(event.get("uuid"))
    device = text_id(props.get("$device_id"))
    anonymous = (
        distinct_id == device  # posthog-js before identify()
        or props.get("$process_person_profile") is False
        or props.get("$is_identified") is False
    )
    legal = not is_illegal_id(distinct_id)
    fields: dict[str, Any] = {
        "type": "track",
        "event": name,
        "visitor_id": device or distinct_id,
        "user_id": distinct_id if legal and not anonymous else None,
        "message_id": uuid,
        "timestamp": event_time(event, received_at, sent_at),
        "properties": flatten({k: v for k, v in props.items() if k not in LIFTED}, "", dropped),
        "traits": _traits(event, props),
        "context": _context(props),
    }

    def refuse(illegal: str | None, other: str | None) -> None:
        details = {"illegalDistinctId": illegal or "", "otherDistinctId": other or ""}
        warnings.append(IngestionWarning(ILLEGAL_MERGE, details | {"eventUuid": uuid or ""}))

    if name in ("$pageview", "$screen"):
        fields["type"] = "page"
        if name == "$screen" and isinstance(props.get("$screen_name"), str):
            page = (fields["context"] or {}).get("page") or {}
            fields["context"] = {
                **(fields["context"] or {}),
                "page": {"title": props["$screen_name"], **page},
            }
    elif name in ("$identify", "$create_alias"):
        # $identify: $anon_distinct_id -> distinct_id; $create_alias: distinct_id -> alias.
        if name == "$identify":
            source, target = _raw_id(props.get("$anon_distinct_id")), distinct_id
        else:
            source, target = distinct_id, _raw_id(props.get("alias"))
        if is_illegal_id(target):
            refuse(target, source)
            legal_source = source if not is_illegal_id(source) else None
            fields |= {"visitor_id": legal_source or distinct_id, "user_id": None}
        else:
            fields |= {"type": "identify", "user_id": target, "visitor_id": None}
            if source is not None and source != target:
                if is_illegal_id(source):
                    refuse(source, target)
                else:  # posthog-js keeps the anonymous events under the device
                    fields["visitor_id"] = device if name == "$identify" and device else source
    elif name in ("$set", "$set_once") and fields["user_id"]:
        fields["type"] = "identify"  # a device is not linked by it; a server's id stays its own
        if fields["visitor_id"] != fields["user_id"]:
            fields["visitor_id"] = None
    native = native_event(fields)
    warnings.extend(collisions(dropped, "properties", eventUuid=uuid or ""))
    return native, warnings


# --- HTTP --------------------------------------------------------------------------------------


def _error(status: int, kind: str, code: str, detail: str, attr: str | None = None) -> Any:
    body = {"type": kind, "code": code, "detail": detail, "attr": attr}
    return JSONResponse(body, status_code=status)


def _from_api_error(error: ApiError) -> JSONResponse:
    if error.status == 401:
        return _error(401, "authentication_error", "invalid_api_key", error.message)
    if error.status == 429:
        response = _error(429, "throttled", "rate_limited", error.message)
        response.headers["Retry-After"] = str(error.retry_after or 1)
        return response
    if error.status == 503:
        response = _error(503, "server_error", "service_unavailable", error.message)
        response.headers["Retry-After"] = str(error.retry_after or 5)
        return response
    if error.status in (400, 422):
        detail = (
            error.message
            if error.error == "invalid_payload"
            else f"Invalid payload: {error.message}"
        )
        return _error(400, "validation_error", "invalid_payload", detail, error.field)
    return _error(error.status, "validation_error", error.error, error.message, error.field)


async def capture(edge: Edge, request: Request) -> JSONResponse:
    """Any of PostHog's capture paths."""
    try:
        limit = edge.limits.max_batch_bytes
        body = await edge.read_body(request, limit, "the request")
        content_type = request.headers.get("content-type", "")
        payload = decode_payload(body, content_type, limit)
        events, envelope = split_payload(payload)
        token = token_of(events, envelope)
        if token is None:
            raise ApiError(401, "unauthorized", NO_TOKEN)
        project_id = edge.principal(token, BAD_TOKEN).project_id
        if len(events) > edge.limits.max_batch_events:
            raise invalid(f"Invalid payload: more than {edge.limits.max_batch_events} events")
        info = edge.request_info(request, project_id)
        natives: list[NativeEvent] = []
        warnings: list[IngestionWarning] = []
        for index, event in enumerate(events):
            try:
                check_event_size(event, edge.limits)  # (the body may have been gzip or base64)
                native, refused = to_native(event, info.received_at, envelope.get("sent_at"))
            except ApiError as exc:
                exc.message = f"{exc.message} (event {index})"
                raise
            natives.append(native)
            warnings.extend(refused)
        await edge.accept(natives, info)
        await record_warnings(edge, project_id, SOURCE, warnings)
    except ApiError as exc:
        edge.count_rejected(exc.error)
        return _from_api_error(exc)
    except PublishUnavailableError:
        return _from_api_error(unavailable())
    return JSONResponse({"status": 1})


def install(app: FastAPI, edge: Edge) -> None:
    async def posthog_capture(request: Request) -> JSONResponse:
        """PostHog capture (one event, a list, or a batch; token in the body)."""
        return await capture(edge, request)

    for path in PATHS:
        for variant in (path, f"{path}/"):
            app.add_api_route(variant, posthog_capture, methods=["POST"], tags=["posthog"])
