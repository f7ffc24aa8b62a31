"""AscendKit-style analytics: anonymous visitors' browser events on ``POST /v1/analytics/collect``
(public write key, ``vis_`` ids, browser context), identified users' server events as the
``ascendkit`` Python SDK sends them (``POST /api/v1/events`` with ``X-AscendKit-Secret-Key`` and
``{"batch": [...]}``), and the built-in ``user.created`` / ``user.login`` / ``user.signout``
events recorded by ``POST /v1/analytics/identify`` and ``POST /v1/analytics/signout``.

Mapping (``schemas/dialects.md``, "AscendKit"): ``eventName``/``event`` -> ``event`` (a
``pageview`` is a native ``page``), ``userId`` -> ``user_id``, ``visitorId`` (body or
``context.visitorId``) -> ``visitor_id`` — an event with both links the visitor's earlier events
to the user (the stitch stage), ``context.url/referrer/title/userAgent/locale/screen`` -> the
native context, ``properties`` -> ``properties``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.edge import jsonbody
from pipeline.edge.context import Edge
from pipeline.edge.dialects.common import check_event_size, native_event
from pipeline.edge.errors import ApiError
from pipeline.stages.normalize import RequestInfo
from schemas.events import NativeEvent

SECRET_HEADER = "x-ascendkit-secret-key"
PUBLIC_HEADER = "x-ascendkit-public-key"
VISITOR_PREFIX = "vis_"
PAGEVIEW_EVENTS = frozenset({"pageview", "page.viewed", "$pageview"})
BROWSER_CONTEXT = {"url": "url", "referrer": "referrer", "title": "title", "path": "path"}


def is_server_call(request: Request) -> bool:
    """A call of AscendKit's server SDK (it posts to ``/api/v1/events`` with its secret key)."""
    return SECRET_HEADER in request.headers


def _invalid(field: str, message: str, status: int = 422) -> ApiError:
    kind = "missing_field" if status == 400 else "invalid_field"
    return ApiError(status, kind, f"{field}: {message}", field)


def _items(body: bytes) -> list[Any] | dict[str, Any]:
    """``{"batch": [...]}``, ``{"events": [...]}``, a list, or one event object (a dict)."""
    document = jsonbody.loads(body)
    if isinstance(document, dict):
        for key in ("batch", "events"):
            if key in document:
                document = document[key]
                break
        else:
            return document
    if not isinstance(document, list) or not document:
        raise _invalid("batch", "a non-empty array of events", 400)
    return document


SENDER_NAMES = {"user_id": "userId", "visitor_id": "visitorId"}


def _native(fields: dict[str, Any], prefix: str) -> NativeEvent:
    return native_event(fields, lambda field: prefix + SENDER_NAMES.get(field or "", field or ""))


def _context(context: Any, prefix: str) -> dict[str, Any]:
    """AscendKit's browser context -> the native ``context``."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise _invalid(f"{prefix}context", "must be an object")
    page = {ours: context[theirs] for theirs, ours in BROWSER_CONTEXT.items() if theirs in context}
    out: dict[str, Any] = {"page": page} if page else {}
    if "userAgent" in context:
        out["user_agent"] = context["userAgent"]
    if "locale" in context:
        out["locale"] = context["locale"]
    if "screen" in context:
        out["screen"] = context["screen"]
    return out


def _event_name(item: Mapping[str, Any]) -> Any:
    return item.get("event", item.get("eventName"))


def _is_pageview(name: Any) -> bool:
    return isinstance(name, str) and name in PAGEVIEW_EVENTS  # (a list or object: 422 below)


def visitor_event(item: Any, prefix: str = "") -> NativeEvent:
    """An anonymous browser event of ``/v1/analytics/collect``."""
    if not isinstance(item, dict):
        raise ApiError(400, "invalid_event", f"{prefix or 'the event'}: must be a JSON object")
    context = item.get("context")
    if context is not None and not isinstance(context, dict):
        raise _invalid(f"{prefix}context", "must be an object")
    visitor = item.get("visitorId", (context or {}).get("visitorId"))
    if not visitor:
        raise _invalid(f"{prefix}visitorId", "field required", 400)
    if not isinstance(visitor, str) or not visitor.startswith(VISITOR_PREFIX):
        raise _invalid(f"{prefix}visitorId", f"a visitor id starts with {VISITOR_PREFIX}")
    if item.get("userId"):
        raise _invalid(
            f"{prefix}userId", "identified users' events go to /v1/events with the secret key"
        )
    name = _event_name(item)
    return _native(
        {
            "type": "page" if _is_pageview(name) else "track",
            "event": "pageview" if _is_pageview(name) else name,
            "visitor_id": visitor,
            "timestamp": item.get("timestamp"),
            "properties": item.get("properties") or {},
            "context": _context(
                {k: v for k, v in (context or {}).items() if k != "visitorId"}, prefix
            )
            or None,
        },
        prefix,
    )


def user_event(item: Any, prefix: str = "") -> NativeEvent:
    """A server-side event of an identified user (the ``ascendkit`` SDK's batch item)."""
    if not isinstance(item, dict):
        raise ApiError(400, "invalid_event", f"{prefix or 'the event'}: must be a JSON object")
    context = item.get("context") or {}
    if not isinstance(context, dict):
        raise _invalid(f"{prefix}context", "must be an object")
    visitor = item.get("visitorId", context.get("visitorId"))
    if visitor is not None and not (isinstance(visitor, str) and visitor.startswith("vis_")):
        raise _invalid(f"{prefix}visitorId", f"a visitor id starts with {VISITOR_PREFIX}")
    if not item.get("userId"):
        raise _invalid(f"{prefix}userId", "field required", 400)
    browser = {k: v for k, v in context.items() if k not in ("visitorId", "sdk", "sdkVersion")}
    return _native(
        {
            "type": "track",
            "event": _event_name(item),
            "user_id": item.get("userId"),
            "visitor_id": visitor,
            "timestamp": item.get("timestamp"),
            "properties": item.get("properties") or {},
            "context": _context(browser, prefix) or None,
        },
        prefix,
    )


def _secret_project(edge: Edge, request: Request) -> str:
    key = request.headers.get(SECRET_HEADER)
    return edge.authenticate_read(request, key)


def _server_side(info: RequestInfo) -> RequestInfo:
    """A backend's request: its user agent and IP are the server's, not the user's, so they
    enrich nothing (an event's own ``context`` still does)."""
    return replace(info, user_agent="", client_ip="")


async def _accept_items(
    edge: Edge, request: Request, project_id: str, raw: bytes, convert, server: bool
) -> JSONResponse:
    """A batch answers ``{accepted, total, errors}``; one event object fails as a whole. Each
    event is at most ``max_event_bytes`` (measured only when the body is larger)."""
    body = _items(raw)
    measure = len(raw) > edge.limits.max_event_bytes
    single = isinstance(body, dict)
    items = [body] if single else body
    if len(items) > edge.limits.max_batch_events:
        raise ApiError(413, "payload_too_large", "too many events in one batch", "batch")
    good, errors = [], []
    for index, item in enumerate(items):
        try:
            if measure:
                check_event_size(item, edge.limits)
            good.append(convert(item, f"batch[{index}]." if len(items) > 1 else ""))
        except ApiError as error:
            if single:
                raise
            errors.append({"index": index, **error.body(), "status": error.status})
    info = edge.request_info(request, project_id)
    await edge.accept(good, _server_side(info) if server else info)
    body, status = edge.batch_answer(len(good), len(items), errors)
    return JSONResponse(body, status)


async def server_events(edge: Edge, request: Request) -> JSONResponse:
    """The ``ascendkit`` SDK's ``POST /api/v1/events``: its secret key (ours, ``ths_…``)."""
    project_id = _secret_project(edge, request)
    body = await edge.read_body(request, edge.limits.max_batch_bytes, "the batch")
    return await _accept_items(edge, request, project_id, body, user_event, True)


def lifecycle_events(item: Any, kind: str) -> list[NativeEvent]:
    """``identify`` (+ ``user.created`` on signup, else ``user.login``) or ``user.signout``."""
    if not isinstance(item, dict):
        raise ApiError(400, "invalid_event", "the body must be a JSON object")
    user = item.get("userId")
    if not user:
        raise _invalid("userId", "field required", 400)
    visitor = item.get("visitorId")
    if visitor is not None and not (isinstance(visitor, str) and visitor.startswith("vis_")):
        raise _invalid("visitorId", f"a visitor id starts with {VISITOR_PREFIX}")
    base = {"user_id": user, "visitor_id": visitor, "timestamp": item.get("timestamp")}
    if kind == "signout":
        return [_native({**base, "type": "track", "event": "user.signout"}, "")]
    traits = item.get("traits") or {}
    if not isinstance(traits, dict):
        raise _invalid("traits", "must be an object")
    built_in = "user.created" if item.get("signup") else "user.login"
    return [
        _native({**base, "type": "identify", "traits": traits}, ""),
        _native({**base, "type": "track", "event": built_in}, ""),
    ]


def install(app: FastAPI, edge: Edge) -> None:
    limits = edge.limits

    async def collect(request: Request) -> JSONResponse:
        """Anonymous visitors' events (public write key; ``vis_`` ids; browser context)."""
        key = request.headers.get(PUBLIC_HEADER)
        project_id = edge.authenticate(request, key, beacon=True)
        body = await edge.read_body(request, limits.max_batch_bytes, "the batch")
        return await _accept_items(edge, request, project_id, body, visitor_event, False)

    for path in ("/v1/analytics/collect", "/api/v1/analytics/collect"):
        app.add_api_route(path, collect, methods=["POST"], status_code=202, tags=["ascendkit"])

    async def lifecycle(request: Request, kind: str) -> JSONResponse:
        project_id = _secret_project(edge, request)
        body = await edge.read_body(request, limits.max_event_bytes, "the event")
        item = jsonbody.loads(body)
        events = lifecycle_events(item, kind)
        info = _server_side(edge.request_info(request, project_id))
        records = await edge.accept(events, info)
        return JSONResponse({"recorded": [r.event for r in records]}, 202)

    @app.post("/v1/analytics/identify", status_code=202, tags=["ascendkit"])
    async def identify(request: Request) -> JSONResponse:
        """A user signed up (``signup: true`` -> ``user.created``) or logged in
        (``user.login``); with ``visitorId`` the visitor's history is stitched to the user."""
        return await lifecycle(request, "identify")

    @app.post("/v1/analytics/signout", status_code=202, tags=["ascendkit"])
    async def signout(request: Request) -> JSONResponse:
        """A user signed out (``user.signout``)."""
        return await lifecycle(request, "signout")
