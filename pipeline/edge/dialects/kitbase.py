"""Kitbase-style logs: ``POST /sdk/v1/logs`` and ``/sdk/v1/logs/batch`` (``X-API-Key``), and
the reads ``GET /sdk/v1/logs[/{id}]`` (secret key) with the ``__browser``… enrichment names.

Mapping onto the native event (``schemas/dialects.md``, "Kitbase"): ``tags`` -> ``properties``,
``channel``/``user_id``/``icon``/``notify``/``description`` as they are; revenue events
(``amount``, ``currency``, ``orderId``, ``productId``) -> typed ``revenue_*`` columns on the
``__analytics`` channel; the ``$duration`` tag stays a property (normalize fills ``duration_ms``
from it, on every route); the page: the SDK's ``__path``/``__referrer``/``__utm_*`` tags, else
the request's ``Referer``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.edge import jsonbody
from pipeline.edge.context import Edge
from pipeline.edge.dialects.common import check_event_size, native_event
from pipeline.edge.errors import ApiError
from pipeline.query import event_filters as event_query
from pipeline.stages.normalize import RequestInfo
from schemas.events import NativeEvent

REVENUE_CHANNEL = "__analytics"
REVENUE_EVENT = "revenue"
DURATION_TAG = "$duration"
OPTION_KEYS = frozenset(
    {"channel", "event", "user_id", "icon", "notify", "description", "tags", "anonymous_id",
     "timestamp", "amount", "currency", "orderId", "productId"}
)  # fmt: skip
REVENUE_KEYS = {
    "amount": "revenue_amount",
    "currency": "revenue_currency",
    "orderId": "order_id",
    "productId": "product_id",
}
ENRICHED_NAMES: dict[str, str] = {
    "__browser": "browser",
    "__browser_version": "browser_version",
    "__os": "os",
    "__os_version": "os_version",
    "__device": "device_type",
    "__brand": "device_brand",
    "__model": "device_model",
    "__country": "country",
    "__region": "region",
    "__city": "city",
    "__path": "path",
    "__referrer": "referrer",
    "__utm_source": "utm_source",
    "__utm_medium": "utm_medium",
    "__utm_campaign": "utm_campaign",
    "__utm_term": "utm_term",
    "__utm_content": "utm_content",
    "__is_bot": "is_bot",
}
# Reads return every log, bots included; ``__is_bot`` (or ``is_bot``) filters them. Every
# TrackOptions field but ``tags`` filters too; any other name is a 400.
READ_FILTERS = {"channel": "channel", "event": "event", "user_id": "user_id",
                "anonymous_id": "visitor_id", "icon": "icon", "notify": "notify",
                "description": "description", "is_bot": "is_bot"} | ENRICHED_NAMES  # fmt: skip
READ_OPTIONS = frozenset({"start", "end", "limit", "offset", "include_bots"})
READ_STRING_COLUMNS = (*event_query.STRING_FILTERS, "icon", "description")
# The SDK's page context (its page-view plugin's tags): columns, not tags.
PAGE_TAGS = ("__path", "__referrer", "__title", "__url")
MAX_PAGE_URL = 2048
UTM_TAGS = tuple(f"__utm_{name}" for name in ("source", "medium", "campaign", "term", "content"))


def _json(body: bytes) -> Any:
    return jsonbody.loads(body)


def _tag_value(value: Any, field: str) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    raise ApiError(422, "invalid_field", f"{field}: a tag is a string, number or boolean", field)


def _revenue(options: Mapping[str, Any], tags: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Typed revenue columns from the options (``trackRevenue``) or, on ``__analytics``, tags."""
    out: dict[str, Any] = {}
    for key, column in REVENUE_KEYS.items():
        value = options.get(key, tags.get(key))
        if value is None:
            continue
        field = f"{prefix}{key}"
        if key == "amount":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ApiError(422, "invalid_field", f"{field}: must be a number", field)
            out[column] = float(value)
        elif isinstance(value, str | int) and not isinstance(value, bool):
            out[column] = str(value)
        else:
            raise ApiError(422, "invalid_field", f"{field}: must be a string", field)
    return out


def page_context(tags: dict[str, Any], page_url: str) -> dict[str, Any] | None:
    """The native ``context`` of a log: the SDK's page tags (``__path``, ``__referrer``,
    ``__title``, ``__url``, ``__utm_*``; taken out of ``tags``), else ``page_url`` (the
    request's ``Referer``: the page that sent it). Path and UTM are read from the page URL by
    the enrich stage, so SDK tags become one: ``/pricing?utm_source=…``."""
    if not any(name in tags for name in (*PAGE_TAGS, *UTM_TAGS)):
        return {"page": {"url": page_url}} if page_url else None
    given = {name: str(tags.pop(name))[:MAX_PAGE_URL] for name in PAGE_TAGS if name in tags}
    utm = {name[2:]: str(tags.pop(name))[:MAX_PAGE_URL] for name in UTM_TAGS if name in tags}
    url = given.get("__url") or given.get("__path") or page_url.split("?", 1)[0]
    if utm:
        url = f"{url.split('?', 1)[0]}?{urlencode(utm)}"[:MAX_PAGE_URL]
    page = {"url": url, "referrer": given.get("__referrer"), "title": given.get("__title")}
    return {"page": {k: v for k, v in page.items() if v}}


def to_native(document: Any, fallback_visitor: str = "", page_url: str = "") -> NativeEvent:
    """One Kitbase log (nested ``{event, properties: {...}}`` or the flat TrackOptions form) as
    a ``NativeEvent``; raises ``ApiError`` naming the field as the sender wrote it.
    ``page_url``: the request's ``Referer``, the page when the log names none."""
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_event", "an event must be a JSON object")
    nested = isinstance(document.get("properties"), dict)
    if nested:
        extra = set(document) - {"event", "properties", "timestamp"}
        options = {**document["properties"], "event": document.get("event")}
        if "timestamp" in document:
            options.setdefault("timestamp", document["timestamp"])
        prefix = "properties."
    else:
        extra, options, prefix = set(), dict(document), ""
    extra |= {f"{prefix}{key}" for key in set(options) - OPTION_KEYS}
    if extra:
        field = sorted(extra)[0]
        raise ApiError(422, "unknown_field", f"{field}: not a field of a Kitbase event", field)
    raw_tags = options.get("tags") or {}
    if not isinstance(raw_tags, dict):
        field = f"{prefix}tags"
        raise ApiError(422, "invalid_field", f"{field}: must be an object", field)
    tags = {k: _tag_value(v, f"{prefix}tags.{k}") for k, v in raw_tags.items()}
    is_revenue = "amount" in options
    channel = options.get("channel") or (REVENUE_CHANNEL if is_revenue else None)
    revenue = _revenue(options, tags if channel == REVENUE_CHANNEL else {}, prefix)
    event = options.get("event") or (REVENUE_EVENT if is_revenue else None)
    if not event:
        raise ApiError(400, "missing_field", "event: field required", "event")
    if not channel:
        field = f"{prefix}channel"
        raise ApiError(400, "missing_field", f"{field}: field required", field)
    duration = tags.get(DURATION_TAG)
    if duration is not None and (isinstance(duration, bool | str) or duration < 0):
        field = f"{prefix}tags.{DURATION_TAG}"
        raise ApiError(422, "invalid_field", f"{field}: milliseconds, a number >= 0", field)
    context = page_context(tags, page_url)
    native: dict[str, Any] = {
        "type": "track",
        "event": event,
        "channel": channel,
        "user_id": options.get("user_id"),
        "visitor_id": options.get("anonymous_id") or None,
        "timestamp": options.get("timestamp"),
        "properties": tags,
        "icon": options.get("icon"),
        "notify": options.get("notify", False),
        "description": options.get("description"),
        "context": context,
        **revenue,
    }
    if not native["user_id"] and not native["visitor_id"]:
        native["visitor_id"] = fallback_visitor
    return native_event(native, lambda field: _sender_field(field, prefix))


def _sender_field(field: str | None, prefix: str) -> str | None:
    """A native field name as the Kitbase sender wrote it."""
    if not field or field == "event":
        return field
    names = {v: k for k, v in REVENUE_KEYS.items()} | {"visitor_id": "anonymous_id"}
    name = field.replace("properties", "tags", 1) if field.startswith("properties") else field
    return prefix + names.get(name, name)


def anonymous_visitor(info: RequestInfo, salt: bytes) -> str:
    """A visitor for a log without ``user_id``/``anonymous_id``: a keyed hash of the day, the
    project, the client IP and the user agent, as Plausible counts visitors. The key (``salt``)
    is secret, so the IP cannot be found again by hashing every address; the day in the hash
    makes the id change daily (the IP itself is never stored)."""
    day = info.received_at // 86_400_000
    seed = f"{day}\x00{info.project_id}\x00{info.client_ip}\x00{info.user_agent}".encode()
    return "kb_" + hmac.new(salt, seed, hashlib.sha256).hexdigest()[:24]


def log_to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored event as a Kitbase log: ``tags``, and the enrichment under ``__`` names."""
    out: dict[str, Any] = {
        "id": row["id"],
        "event": row["event"],
        "channel": row["channel"],
        "user_id": row["user_id"] or None,
        "anonymous_id": row["visitor_id"] or None,
        "icon": row["icon"] or None,
        "notify": row["notify"],
        "description": row["description"] or None,
        "tags": row["properties"],
        "timestamp": row["timestamp"],
    }
    if row.get("revenue_amount") is not None:
        out["revenue"] = {
            "amount": row["revenue_amount"],
            "currency": row["revenue_currency"] or None,
            "orderId": row["order_id"] or None,
            "productId": row["product_id"] or None,
        }
    if row.get("duration_ms") is not None:
        out["duration"] = row["duration_ms"]
    out.update({alias: row[column] for alias, column in ENRICHED_NAMES.items()})
    return out


def read_params(params: Mapping[str, str]) -> dict[str, str]:
    """Kitbase filter names -> native ones; an unknown name is a 400 naming it."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if name in READ_FILTERS:
            out[READ_FILTERS[name]] = value
        elif name in READ_OPTIONS:
            out[name] = value
        else:
            known = ", ".join(sorted({*READ_FILTERS, *READ_OPTIONS}))
            message = f"{name}: not a filter of /sdk/v1/logs (filters: {known})"
            raise ApiError(400, "unknown_filter", message, name)
    return out


def read_query(project_id: str, params: Mapping[str, str]) -> event_query.EventQuery:
    """``GET /sdk/v1/logs``'s filters as a query (exact matches; ``notify``/``is_bot`` flags)."""
    return event_query.build_query(
        project_id, read_params(params), READ_STRING_COLUMNS, event_query.BOOL_FILTERS
    )


def install(app: FastAPI, edge: Edge) -> None:
    limits = edge.limits
    salt = edge.settings.visitor_hash_salt.get_secret_value().encode() or secrets.token_bytes(32)

    async def accept(
        request: Request, events: list[Any], measure: bool = False
    ) -> tuple[list[Any], list[ApiError]]:
        """Map and accept; ``measure``: check each event's size (the body is past the limit)."""
        project_id = edge.authenticate(request)
        info = edge.request_info(request, project_id)
        visitor = anonymous_visitor(info, salt)
        page_url = request.headers.get("referer", "")[:MAX_PAGE_URL]  # (a header can't 422)
        good, errors = [], []
        for index, document in enumerate(events):
            try:
                if measure:
                    check_event_size(document, limits)
                good.append(to_native(document, visitor, page_url))
            except ApiError as error:
                errors.append((index, error))
        records = await edge.accept(good, info)
        return records, errors

    @app.post("/sdk/v1/logs", status_code=202, tags=["kitbase"])
    async def post_log(request: Request) -> JSONResponse:
        """Kitbase: track one event (202 ``{id, event, timestamp}``)."""
        edge.authenticate(request)
        body = _json(await edge.read_body(request, limits.max_event_bytes, "the event"))
        records, errors = await accept(request, [body])
        if errors:
            raise errors[0][1]
        raw = records[0]
        return JSONResponse(
            {"id": raw.event_id, "event": raw.event, "timestamp": _iso(raw.timestamp)}, 202
        )

    @app.post("/sdk/v1/logs/batch", status_code=202, tags=["kitbase"])
    async def post_logs(request: Request) -> JSONResponse:
        """Kitbase: track a batch (202 ``{accepted, total}``; refused items under ``errors``)."""
        edge.authenticate(request)
        raw = await edge.read_body(request, limits.max_batch_bytes, "the batch")
        body = _json(raw)
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not events:
            raise ApiError(400, "missing_field", 'events: a batch is {"events": [...]}', "events")
        if len(events) > limits.max_batch_events:
            raise ApiError(413, "payload_too_large", "too many events in one batch", "events")
        records, errors = await accept(request, events, len(raw) > limits.max_event_bytes)
        for _, error in errors:
            edge.count_rejected(error.error)
        answer: dict[str, Any] = {"accepted": len(records), "total": len(events)}
        if errors:
            answer["errors"] = [{"index": i, **e.body()} for i, e in errors]
        status = 202 if records else min(e.status for _, e in errors)
        return JSONResponse(answer, status)

    @app.get("/sdk/v1/logs", tags=["kitbase"])
    async def list_logs(request: Request) -> JSONResponse:
        """Kitbase logs of the key's project, newest first, bots included; filter by
        ``channel``, ``event``, ``user_id``, ``anonymous_id``, ``icon``, ``notify``,
        ``description``, ``is_bot`` and the ``__browser``… enrichment names (secret key); an
        unknown filter is a 400 naming it."""
        project_id = edge.authenticate_read(request)
        q = read_query(project_id, request.query_params)
        columns, rows, total = await edge.reads.events_page(project_id, q)
        logs = [log_to_json(event_query.row_to_json(columns, row)) for row in rows]
        pagination = {"total": total, "limit": q.limit, "offset": q.offset}
        return JSONResponse({"logs": logs, "pagination": pagination})

    @app.get("/sdk/v1/logs/{log_id}", tags=["kitbase"])
    async def get_log(log_id: str, request: Request) -> JSONResponse:
        """One Kitbase log of the key's project (secret key)."""
        project_id = edge.authenticate_read(request)
        columns, rows = await edge.query(
            f"SELECT * FROM {edge.database}.events_resolved WHERE project_id = {{p:String}} "
            "AND toString(event_id) = {id:String} LIMIT 1",
            {"p": project_id, "id": log_id},
        )
        if not rows:
            raise ApiError(404, "not_found", "no such event in this project", "id")
        return JSONResponse(log_to_json(event_query.row_to_json(columns, rows[0])))


def _iso(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
