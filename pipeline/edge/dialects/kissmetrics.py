"""KISSmetrics' tracking API: ``/e`` (record), ``/s`` (set) and ``/a`` (alias), GET (a
tracking pixel's URL) or POST (a form body), mapped onto ``NativeEvent``
(``schemas/dialects.md``, "KISSmetrics tracking API").

Parameters as KISSmetrics documents them: ``_k`` the API key (here the project's write key),
``_p`` the person, ``_n`` the event name (record) or the person's other identity (alias), ``_t``
a time in epoch seconds, applied only with ``_d=1``; every other parameter is a property of the
event (record) or a trait of the person (set). Answers as KISSmetrics does: ``200`` with a 1x1
GIF, also for a call it cannot store (no ``_p``, no ``_n``, a bad ``_t``), which is recorded
as an ``ingestion_warnings`` row instead of being dropped silently. Unlike KISSmetrics, a
missing or unknown ``_k`` is ``401`` (nothing is accepted without a project).

``POST /e`` is shared with PostHog's capture: it is KISSmetrics' when ``_k`` is in the query
or in a form body (without PostHog's ``data=``); anything else goes to PostHog."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pipeline.edge.context import Edge
from pipeline.edge.dialects import posthog
from pipeline.edge.dialects.common import IngestionWarning, native_event, record_warnings
from pipeline.edge.errors import ApiError
from schemas.events import NativeEvent

SOURCE = "kissmetrics"
CALLS = {"/e": "record", "/s": "set", "/a": "alias"}
PIXEL_PATHS = tuple(CALLS)
RESERVED = frozenset({"_k", "_p", "_n", "_t", "_d"})
KEY_MESSAGE = "missing or unknown API key (_k)"
SET_EVENT = "set"
ALIAS_EVENT = "alias"
# The 1x1 transparent GIF KISSmetrics answers with (its "Beacon API").
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
PIXEL_HEADERS = {"Cache-Control": "no-cache, no-store, must-revalidate"}
FORM = "application/x-www-form-urlencoded"


# --- pure mapping ------------------------------------------------------------------------------


def clean(text: str) -> str:
    """KISSmetrics turns commas and colons in names and identities into spaces."""
    return text.replace(",", " ").replace(":", " ")


def _required(params: dict[str, str], name: str, what: str) -> str:
    value = clean(params.get(name, "")).strip()
    if not value:
        raise ApiError(400, "missing_field", f"{name}: {what}", name)
    return value


def event_time(params: dict[str, str]) -> int | None:
    """``_t`` (epoch seconds) as epoch ms when ``_d=1``; else ``None`` (the receipt time)."""
    if params.get("_d") != "1" or not params.get("_t"):
        return None
    try:
        return int(float(params["_t"]) * 1000)
    except (ValueError, OverflowError):  # not a number, nan, or inf (1e400)
        raise ApiError(422, "invalid_field", "_t: not a time in epoch seconds", "_t") from None


def message_id(call: str, params: dict[str, str], part: str = "") -> str | None:
    """A stable id when ``_t`` is given (KISSmetrics uses it to tell repeated requests apart,
    and drops duplicates): the same call sent twice is stored once."""
    if not params.get("_t"):
        return None
    canonical = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hashlib.blake2b(f"{call}{part}?{canonical}".encode(), digest_size=16)
    return f"km-{digest.hexdigest()}"


def _others(params: dict[str, str]) -> dict[str, str]:
    return {clean(k): v for k, v in params.items() if k not in RESERVED and k.strip()}


def _sender_field(field: str | None) -> str | None:
    """Native field names in errors as KISSmetrics' parameters."""
    return {"visitor_id": "_p", "user_id": "_n", "event": "_n", "timestamp": "_t"}.get(
        field or "", field
    )


def to_native(call: str, params: dict[str, str]) -> list[NativeEvent]:
    """One call as native events; ``ApiError`` names the parameter it fails on.

    - record: a ``track`` event ``_n`` of person ``_p`` (visitor and provisional user, as
      PostHog's server-side distinct ids), the other parameters as properties;
    - set: a ``track`` event ``set`` of person ``_p``, the other parameters as its traits;
    - alias: ``_p`` and ``_n`` are one person: ``identify`` events ``alias`` link visitor
      ``_p`` to user ``_n`` and ``_n`` to itself, so what either identity did reads as ``_n``.
    """
    person = _required(params, "_p", "the person (identity) is required")
    timestamp = event_time(params)
    if call == "record":
        fields: dict[str, Any] = {
            "type": "track",
            "event": clean(params.get("_n", "")).strip() or None,
            "properties": _others(params),
        }
        if fields["event"] is None:
            raise ApiError(400, "missing_field", "_n: the event name is required", "_n")
    elif call == "set":
        fields = {"type": "track", "event": SET_EVENT, "traits": _others(params)}
    else:
        other = _required(params, "_n", "the other identity is required")
        links = [(person, other), (other, other)] if person != other else [(other, other)]
        return [
            native_event(
                {
                    "type": "identify",
                    "event": ALIAS_EVENT,
                    "visitor_id": visitor,
                    "user_id": user,
                    "timestamp": timestamp,
                    "message_id": message_id(call, params, str(index)),
                },
                _sender_field,
            )
            for index, (visitor, user) in enumerate(links)
        ]
    fields |= {
        "visitor_id": person,
        "user_id": person,  # a KISSmetrics person: provisional until an alias links it elsewhere
        "timestamp": timestamp,
        "message_id": message_id(call, params),
    }
    return [native_event(fields, _sender_field)]


# --- HTTP --------------------------------------------------------------------------------------


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _form(edge: Edge, request: Request) -> dict[str, str]:
    """A POST's form body (``_k=…&_p=…``); the query's parameters count too (the body wins)."""
    if request.method != "POST":
        return {}
    body = await edge.read_body(request, edge.limits.max_event_bytes, "the call")
    if not body:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def claims_post(edge: Edge, request: Request) -> bool:
    """Whether ``POST /e`` is KISSmetrics' (``_k`` in the query, or a plain form body with
    ``_k`` and no ``data``) rather than PostHog's capture. A form body is read only when its
    length is declared and within the limit; the body stays readable for PostHog."""
    if "_k" in request.query_params:
        return True
    declared = request.headers.get("content-length", "")
    if _media(request) != FORM or request.headers.get("content-encoding"):
        return False
    if not declared.isdigit() or int(declared) > edge.limits.max_event_bytes:
        return False
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return "_k" in form and "data" not in form


async def track(edge: Edge, request: Request, call: str) -> Response:
    """One KISSmetrics call: the pixel, or ``401`` without a known ``_k``."""
    params = dict(parse_qsl(request.url.query, keep_blank_values=True))
    params |= await _form(edge, request)
    project_id = edge.principal(params.get("_k", "").strip() or None, KEY_MESSAGE).project_id
    info = edge.request_info(request, project_id)
    try:
        events = to_native(call, params)
    except ApiError as exc:
        edge.count_rejected(exc.error)
        details = {
            "call": call,
            "error": exc.error,
            "field": exc.field,
            "reason": exc.message,
            "_p": params.get("_p"),
            "_n": params.get("_n"),
        }
        warning = IngestionWarning("call_not_stored", details)
        await record_warnings(edge, project_id, SOURCE, [warning])
        events = []
    await edge.accept(events, info)
    return Response(PIXEL, media_type="image/gif", headers=PIXEL_HEADERS)


def _handler(edge: Edge, path: str, call: str) -> Any:
    async def handler(request: Request) -> Response:
        return await track(edge, request, call)

    handler.__name__ = f"kissmetrics_{call}"
    handler.__doc__ = f"KISSmetrics' {call} (``{path}``; ``_k``, ``_p``, ...; 1x1 GIF)."
    return handler


def install(app: FastAPI, edge: Edge) -> None:
    for path, call in CALLS.items():
        methods = ["GET"] if path == "/e" else ["GET", "POST"]
        app.add_api_route(path, _handler(edge, path, call), methods=methods, tags=["kissmetrics"])

    async def kissmetrics_or_posthog(request: Request) -> Response:
        """KISSmetrics' record when ``_k`` is in the query or form body; else PostHog."""
        if await claims_post(edge, request):
            return await track(edge, request, "record")
        return await posthog.capture(edge, request)

    app.add_api_route("/e", kissmetrics_or_posthog, methods=["POST"], tags=["kissmetrics"])
