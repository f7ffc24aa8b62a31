"""Segment's HTTP Tracking API: ``/v1/track|identify|page|screen|group|alias`` and Segment's
``{"batch": [...]}`` on ``/v1/batch``, mapped onto ``NativeEvent`` (``schemas/dialects.md``).

Answers as Segment documents: ``200 {"success": true}`` for every accepted request — a message
Segment would accept but not store (no ``userId``/``anonymousId``, no ``event``...) is also
answered 200, and here recorded as an ``ingestion_warnings`` row (never silently lost);
``400`` for invalid JSON (or nested past 64 levels) and for payloads past the edge's limits (32 KB
per message, 500 KB per batch, after gunzip); ``401`` for a missing or unknown write key; ``429``
when the project is over its rate; ``503`` when events cannot be stored — all in Segment's
``{"success": false, "code", "message"}``. Integers past 64 bits are kept as their exact text."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.edge import jsonbody
from pipeline.edge.client import Network, api_key, parse_networks
from pipeline.edge.context import UNAUTHORIZED, Edge
from pipeline.edge.dialects.common import (
    IngestionWarning,
    collisions,
    flatten,
    native_event,
    parse_time,
    record_warnings,
    text_id,
)
from pipeline.edge.errors import ApiError, unavailable
from pipeline.edge.jsonbody import encoded_size
from pipeline.edge.publisher import PublishUnavailableError
from schemas.events import NativeEvent

SOURCE = "segment"
MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# analytics.js (``@segment/analytics-next``) posts each call to ``{apiHost}/<first letter>``
# and its batches to ``{apiHost}/b``; ``apiHost`` is ``<edge>/v1`` (as Segment's api.segment.io/v1).
SHORT_PATHS = {kind[0]: kind for kind in MESSAGE_TYPES}
BROWSER_BATCH_PATH = "/v1/b"
SETTINGS_PATH = "/v1/projects/{write_key}/settings"
KEY_MESSAGE = "missing or unknown write key (HTTP Basic auth user, or writeKey in the body)"
SUCCESS = {"success": True}


# --- pure mapping ------------------------------------------------------------------------------


def basic_auth_user(authorization: str | None) -> str | None:
    """The user of ``Authorization: Basic base64(user:password)`` (Segment's write key)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error, or non-ASCII text (ValueError)
        return None
    user = decoded.partition(":")[0].strip()
    return user or None


def merged_context(message: dict[str, Any], batch_context: Any) -> dict[str, Any]:
    """The batch's top-level ``context`` under the message's own (the message's keys win)."""
    own = message.get("context")
    own = own if isinstance(own, dict) else {}
    shared = batch_context if isinstance(batch_context, dict) else {}
    return {**shared, **own}


def corrected_time(message: dict[str, Any], received_at: int, batch_sent_at: Any) -> int | None:
    """Segment's clock-skew correction: with ``sentAt`` (the message's, else the batch's) the
    event happened ``sentAt - timestamp`` before the edge received it."""
    happened = parse_time(message.get("timestamp"), "timestamp")
    if happened is None:
        happened = parse_time(message.get("originalTimestamp"), "originalTimestamp")
    sent_at = parse_time(message.get("sentAt") or batch_sent_at, "sentAt")
    if happened is None:
        return None
    if sent_at is None:
        return happened
    return received_at - (sent_at - happened)


def _native_context(context: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """Segment's ``context`` (and a page call's url/referrer/title/path properties)."""
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    native_page = {
        name: page.get(name) if page.get(name) is not None else properties.get(name)
        for name in ("url", "referrer", "title", "path")
    }
    out: dict[str, Any] = {
        "page": {k: v for k, v in native_page.items() if v is not None} or None,
        "user_agent": context.get("userAgent"),
        "locale": context.get("locale"),
        "ip": context.get("ip"),
    }
    screen = context.get("screen")
    if isinstance(screen, dict) and {"width", "height"} <= screen.keys():
        out["screen"] = {"width": screen["width"], "height": screen["height"]}
    return {k: v for k, v in out.items() if v is not None}


def to_native(
    message: dict[str, Any],
    received_at: int,
    batch_context: Any = None,
    batch_sent_at: Any = None,
    warnings: list[IngestionWarning] | None = None,
) -> NativeEvent:
    """One Segment message as a ``NativeEvent``; ``ApiError`` names the field it fails on.
    Keys that flatten onto one name are appended to ``warnings`` (the first one is kept)."""
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise ApiError(422, "invalid_field", f"type: one of {', '.join(MESSAGE_TYPES)}", "type")
    properties = message.get("properties") if isinstance(message.get("properties"), dict) else {}
    traits = message.get("traits") if isinstance(message.get("traits"), dict) else {}
    context = merged_context(message, batch_context)
    dropped: list[tuple[str, Any, Any]] = []
    if kind == "identify" and not traits and isinstance(context.get("traits"), dict):
        traits = context["traits"]
    fields: dict[str, Any] = {
        "type": "track",
        "visitor_id": text_id(message.get("anonymousId")),
        "user_id": text_id(message.get("userId")),
        "message_id": text_id(message.get("messageId")),
        "timestamp": corrected_time(message, received_at, batch_sent_at),
        "properties": flatten(properties, dropped=dropped),
        "context": _native_context(context, properties if kind == "page" else {}) or None,
    }
    name = message.get("name")
    if kind == "track":
        fields["event"] = message.get("event")
    elif kind in ("page", "screen"):
        fields["type"] = "page"
        fields["event"] = "screen" if kind == "screen" else None
        extra = {"name": name, "category": message.get("category")}
        for key, value in extra.items():
            if not isinstance(value, str):
                continue
            replaced = fields["properties"].get(key, value)
            if replaced != value:  # the call's own name/category win over the properties'
                dropped.append((key, replaced, value))
            fields["properties"][key] = value
        if isinstance(name, str) and name:
            page = (fields["context"] or {}).setdefault("page", {})
            page.setdefault("title", name)
            fields["context"] = {**(fields["context"] or {}), "page": page}
    elif kind == "identify":
        fields["traits"] = traits
        fields["type"] = "identify" if fields["user_id"] else "track"
        fields["event"] = "identify"
    elif kind == "group":
        group_id = text_id(message.get("groupId"))
        if group_id is None:
            raise ApiError(400, "missing_field", "groupId: a group call needs it", "groupId")
        fields["event"] = "$group"
        fields["properties"] = {"group_id": group_id, **flatten(traits, "traits.", dropped)}
    else:  # alias: previousId -> userId, as an identify linking the two
        previous = text_id(message.get("previousId"))
        if previous is None:
            raise ApiError(400, "missing_field", "previousId: an alias needs it", "previousId")
        fields |= {"type": "identify", "event": "alias", "visitor_id": previous}
    event = native_event(fields)
    if dropped and warnings is not None:
        ids = {"type": kind, "messageId": text_id(message.get("messageId"))}
        warnings.extend(collisions(dropped, "properties", **ids))
    return event


# --- HTTP --------------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    body = {"success": False, "code": code, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _from_api_error(error: ApiError) -> JSONResponse:
    """Our edge errors in Segment's shape; too large is 400, as Segment documents."""
    status = 400 if error.status == 413 else error.status
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return _error(status, error.error, error.message, headers)


def claims_batch(request: Request) -> bool:
    """Whether ``POST /v1/batch`` is Segment's: Basic auth, or no native key at all (Segment's
    clients may put ``writeKey`` in the body)."""
    if basic_auth_user(request.headers.get("authorization")):
        return True
    return api_key(request.headers) is None and not request.query_params.get("key")


async def _read_json(edge: Edge, request: Request, limit: int, what: str) -> Any:
    return jsonbody.loads(await edge.read_body(request, limit, what))


def _project(edge: Edge, request: Request, payload: dict[str, Any]) -> str:
    key = basic_auth_user(request.headers.get("authorization")) or text_id(payload.get("writeKey"))
    return edge.principal(key, KEY_MESSAGE).project_id


async def _accept(
    edge: Edge, request: Request, project_id: str, messages: list[Any], payload: dict[str, Any]
) -> None:
    """Map and accept the messages; the ones Segment would drop become warning rows."""
    limit = edge.limits.max_event_bytes
    for index, message in enumerate(messages):
        if encoded_size(message) > limit:  # Segment refuses the whole request
            message_too_large = f"message {index} is larger than {limit} bytes"
            raise ApiError(400, "payload_too_large", message_too_large)
    info = edge.request_info(request, project_id)
    events: list[NativeEvent] = []
    warnings: list[IngestionWarning] = []
    for index, message in enumerate(messages):
        try:
            if not isinstance(message, dict):
                raise ApiError(400, "invalid_event", "a message must be a JSON object")
            context, sent_at = payload.get("context"), payload.get("sentAt")
            events.append(to_native(message, info.received_at, context, sent_at, warnings))
        except ApiError as exc:
            edge.count_rejected(exc.error)
            details = {
                "index": index,
                "error": exc.error,
                "field": exc.field,
                "reason": exc.message,
                "type": message.get("type") if isinstance(message, dict) else None,
                "messageId": message.get("messageId") if isinstance(message, dict) else None,
            }
            warnings.append(IngestionWarning("message_not_stored", details))
    await edge.accept(events, info)
    await record_warnings(edge, project_id, SOURCE, warnings)


async def post_batch(edge: Edge, request: Request) -> JSONResponse:
    """Segment's ``{"batch": [...]}`` (``POST /v1/batch`` when ``claims_batch``)."""
    basic = basic_auth_user(request.headers.get("authorization")) is not None
    try:
        payload = await _read_json(edge, request, edge.limits.max_batch_bytes, "the batch")
    except ApiError as exc:
        if not basic:  # no key of any kind: the native answer
            raise ApiError(401, "unauthorized", UNAUTHORIZED) from None
        return _from_api_error(exc)
    if not (isinstance(payload, dict) and isinstance(payload.get("batch"), list)):
        if not basic:
            raise ApiError(401, "unauthorized", UNAUTHORIZED)
        return _error(400, "invalid_batch", 'a Segment batch is {"batch": [messages]}')
    try:
        project_id = _project(edge, request, payload)
        await _accept(edge, request, project_id, payload["batch"], payload)
    except ApiError as exc:
        return _from_api_error(exc)
    except PublishUnavailableError:
        return _from_api_error(unavailable())
    return JSONResponse(SUCCESS)


def _single(edge: Edge, kind: str) -> Any:
    async def handler(request: Request) -> JSONResponse:
        try:
            limit = edge.limits.max_event_bytes
            payload = await _read_json(edge, request, limit, "the message")
            if not isinstance(payload, dict):
                raise ApiError(400, "invalid_event", "a message must be a JSON object")
            project_id = _project(edge, request, payload)
            await _accept(edge, request, project_id, [{**payload, "type": kind}], {})
        except ApiError as exc:
            return _from_api_error(exc)
        except PublishUnavailableError:
            return _from_api_error(unavailable())
        return JSONResponse(SUCCESS)

    handler.__name__ = f"segment_{kind}"
    handler.__doc__ = f"Segment's {kind} call (HTTP Tracking API)."
    return handler


def cdn_settings(write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
    """The settings document analytics.js loads from its CDN before it sends anything: only
    the Segment.io integration (no device-mode destinations, no remote plugins, no metrics),
    sending to ``{protocol}://{api_host}``."""
    segment_io = {
        "apiKey": write_key,
        "apiHost": api_host,
        "protocol": protocol,
        "unbundledIntegrations": [],
        "addBundledMetadata": True,
        "maybeBundledConfigIds": {},
    }
    return {
        "integrations": {"Segment.io": segment_io},
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def _is_trusted_peer(peer: str, trusted: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def public_origin(request: Request, trusted: tuple[Network, ...]) -> tuple[str, str]:
    """``(scheme, host)`` the browser reached the edge at: the request's own, or a trusted
    proxy's ``X-Forwarded-Proto``/``X-Forwarded-Host``."""
    scheme, host = request.url.scheme, request.headers.get("host") or request.url.netloc
    if _is_trusted_peer(request.client.host if request.client else "", trusted):
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        scheme = forwarded if forwarded in ("http", "https") else scheme
        host = request.headers.get("x-forwarded-host", "").split(",")[0].strip() or host
    return scheme, host


def install(app: FastAPI, edge: Edge) -> None:
    for kind in MESSAGE_TYPES:
        app.add_api_route(f"/v1/{kind}", _single(edge, kind), methods=["POST"], tags=["segment"])
    for letter, kind in SHORT_PATHS.items():
        app.add_api_route(f"/v1/{letter}", _single(edge, kind), methods=["POST"], tags=["segment"])
    trusted = parse_networks(edge.settings.trusted_proxies)

    async def segment_browser_batch(request: Request) -> JSONResponse:
        """analytics.js' batching delivery: ``{"writeKey", "batch": [...], "sentAt"}``."""
        return await post_batch(edge, request)

    app.add_api_route(
        BROWSER_BATCH_PATH, segment_browser_batch, methods=["POST"], tags=["segment"]
    )

    @app.get(SETTINGS_PATH, tags=["segment"])
    async def segment_cdn_settings(write_key: str, request: Request) -> JSONResponse:
        """The settings analytics.js fetches from ``{cdnURL}/v1/projects/{writeKey}/settings``:
        it sends to this edge. ``404`` for an unknown write key, as Segment's CDN (a secret key
        is unknown here too)."""
        principal = edge.services.registry.authenticate(write_key)
        if principal is None or principal.can_read:  # a secret key never goes in a page
            body = {"error": "not_found", "message": "no project has this write key"}
            return JSONResponse(body, status_code=404)
        scheme, host = public_origin(request, trusted)
        document = cdn_settings(write_key, f"{host}/v1", scheme)
        # private: the document names the Host it was asked at, so no shared cache may keep it
        return JSONResponse(document, headers={"Cache-Control": "private, max-age=60"})
