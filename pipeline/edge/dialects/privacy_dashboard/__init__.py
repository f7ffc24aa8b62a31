"""Privacy-dashboard style (Privacy-Focused-Web-Analytics-Dashboard): websites with tracking
codes, ``POST /api/v1/websites`` (admin bearer token), ``POST /api/v1/events`` (201),
``POST /api/v1/events/batch`` (201 / 207), ``GET /api/v1/events`` and ``GET /api/v1/events/:id``.
Errors keep the original's ``{error: CODE, message}`` shape, the edge's own too (``401
UNAUTHORIZED``, ``413 PAYLOAD_TOO_LARGE``, ``429 RATE_LIMITED``, ``503 UNAVAILABLE``).

Mapping (``schemas/dialects.md``, "Privacy dashboard"): ``eventType`` -> ``event`` (a
``pageview`` is a native ``page``), the website -> ``channel`` (its ``web_…`` id),
``sessionId``/``visitorId`` kept as given, ``url``/``referrer`` -> the page context, the
client-declared ``deviceType``/``browser``/``os``/``location`` -> ``$``-prefixed properties (reads
fall back to the server's enrichment), ``properties`` -> ``properties``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pipeline.edge.client import same_secret
from pipeline.edge.context import Edge
from pipeline.edge.dialects.privacy_dashboard.mapping import (
    BAD_CODE_ONLY,
    EVENT_TYPES,
    ITEM_STATUS,
    FieldErrors,
    Invalid,
    _decode,
    _iso,
    _not_found,
    _text,
    created_event,
    error_answer,
    row_to_event,
    to_native,
    validate,
)
from pipeline.edge.errors import answers_errors, payload_too_large
from pipeline.edge.jsonbody import encoded_size, nested_too_deep, too_deep
from pipeline.query import event_filters as event_query
from pipeline.registry.websites import Website, WebsiteRegistry

__all__ = [
    "Invalid",
    "created_event",
    "error_answer",
    "install",
    "row_to_event",
    "to_native",
    "validate",
]


def install(app: FastAPI, edge: Edge) -> None:
    websites = WebsiteRegistry(edge.services.clickhouse)
    limits = edge.limits
    admin_token = edge.settings.admin_token.get_secret_value()

    def bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def is_admin(request: Request) -> bool:
        token = bearer(request)
        return same_secret(token, admin_token)

    def reader(request: Request) -> str | None:
        """None for the admin token (reads every website), else the secret key's project."""
        if is_admin(request):
            return None
        return edge.authenticate_read(request)

    async def body_json(request: Request, limit: int, what: str) -> Any:
        body = await edge.read_body(request, limit, what)
        if nested_too_deep(body):
            raise Invalid({"body": [too_deep().message]}, "Malformed JSON body")
        try:
            return _decode.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise Invalid({}, "Malformed JSON body") from None

    @app.exception_handler(Invalid)
    async def _invalid(_request: Request, exc: Invalid) -> JSONResponse:
        edge.count_rejected("validation_error")
        return JSONResponse(exc.body(), 400)

    @app.post("/api/v1/websites", status_code=201, tags=["privacy-dashboard"])
    @answers_errors(error_answer)
    async def create_website(request: Request) -> JSONResponse:
        """Register a website (admin bearer token); a new project is made unless ``projectId``
        names one. Answers ``{id, trackingCode, name, domain, …}``."""
        if not admin_token:
            body = {"error": "FORBIDDEN", "message": "admin endpoints are disabled "
                    "(set TRACKHOUSE_ADMIN_TOKEN)"}  # fmt: skip
            return JSONResponse(body, 403)
        if not is_admin(request):
            return JSONResponse({"error": "UNAUTHORIZED", "message": "Invalid token"}, 401)
        doc = await body_json(request, limits.max_event_bytes, "the website")
        if not isinstance(doc, dict):
            raise Invalid({"website": ["Expected object"]}, "Invalid website data")
        errors: FieldErrors = {}
        name = _text(doc, "name", errors, True)
        domain = _text(doc, "domain", errors, True)
        description = _text(doc, "description", errors, False) or ""
        project_id = _text(doc, "projectId", errors, False)
        if errors:
            raise Invalid(errors, "Invalid website data")
        registry = edge.services.registry
        created = None
        if project_id:
            if not await run_in_threadpool(registry.keys, project_id):
                return JSONResponse(
                    {"error": "NOT_FOUND", "message": f'Project "{project_id}" not found'}, 404
                )
        else:
            created = await run_in_threadpool(registry.create, name or "")
            project_id = created.project_id
        site = await run_in_threadpool(
            websites.create, project_id, name or "", domain or "", description
        )
        answer: dict[str, Any] = {
            "id": site.website_id,
            "trackingCode": site.tracking_code,
            "name": site.name,
            "domain": site.domain,
            "description": site.description or None,
            "projectId": site.project_id,
            "createdAt": _iso(site.created_at),
        }
        if created:  # shown once, like `trackhouse projects create`
            answer["writeKey"], answer["secretKey"] = created.write_key, created.secret_key
        return JSONResponse(answer, 201)

    async def site_of(code: str) -> Website | None:
        return await run_in_threadpool(websites.find, code)

    async def store(request: Request, items: list[tuple[dict, Website]]) -> list[tuple[str, int]]:
        """Accept validated events (grouped by project); their ids and timestamps, in order."""
        by_project: dict[str, list[int]] = defaultdict(list)
        for index, (_, site) in enumerate(items):
            by_project[site.project_id].append(index)
        out: list[tuple[str, int]] = [("", 0)] * len(items)
        for project_id, indexes in by_project.items():
            events = [to_native(*items[i]) for i in indexes]
            records = await edge.accept(events, edge.request_info(request, project_id))
            for i, raw in zip(indexes, records, strict=True):
                out[i] = (raw.event_id, raw.timestamp)
        return out

    @app.post("/api/v1/events", status_code=201, tags=["privacy-dashboard"])
    @answers_errors(error_answer)
    async def create_event(request: Request) -> JSONResponse:
        """One event (``201`` with the stored event; ``400 VALIDATION_ERROR``; ``404``)."""
        from pipeline.edge.dialects import ascendkit

        if ascendkit.is_server_call(request):  # AscendKit's server SDK posts here too
            return await ascendkit.server_events(edge, request)
        fields = validate(await body_json(request, limits.max_event_bytes, "the event"))
        site = await site_of(fields["trackingCode"])
        if site is None:
            body = {"error": "NOT_FOUND", "message": "Website with this tracking code not found"}
            return JSONResponse(body, 404)
        [(event_id, ts)] = await store(request, [(fields, site)])
        return JSONResponse(created_event(fields, site, event_id, ts), 201)

    @app.post("/api/v1/events/batch", status_code=201, tags=["privacy-dashboard"])
    @answers_errors(error_answer)
    async def create_events(request: Request) -> JSONResponse:
        """Several events: ``201`` when all are stored, ``207`` with per-index errors when some
        are; none: the lowest status of the items' errors (``400``, ``404``, ``413``) as
        ``{error, message, details: {errors}}``. An unknown tracking code — any text, as the
        document's ``"invalid"`` — is the item's ``NOT_FOUND``."""
        doc = await body_json(request, limits.max_batch_bytes, "the batch")
        events = doc.get("events") if isinstance(doc, dict) else None
        if not isinstance(events, list) or not events:
            raise Invalid({"events": ["Array must contain at least 1 element(s)"]})
        if len(events) > limits.max_batch_events:
            limit = limits.max_batch_events
            raise Invalid({"events": [f"Array must contain at most {limit} element(s)"]})
        good: list[tuple[int, dict, Website]] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(events):
            if encoded_size(item) > limits.max_event_bytes:
                too_large = payload_too_large(limits.max_event_bytes, "the event")
                errors.append({"index": index, "error": "PAYLOAD_TOO_LARGE",
                               "message": too_large.message})  # fmt: skip
                continue
            try:
                fields = validate(item)
                site = await site_of(fields["trackingCode"])
                if site is None:
                    errors.append({"index": index, **_not_found(fields["trackingCode"])})
                    continue
                to_native(fields, site)  # the native rules too, before anything is stored
                good.append((index, fields, site))
            except Invalid as exc:
                if exc.field_errors == BAD_CODE_ONLY:  # the document's "invalid": NOT_FOUND
                    errors.append({"index": index, **_not_found(item["trackingCode"])})
                    continue
                errors.append({"index": index, **exc.body()})
        for error in errors:
            edge.count_rejected(error["error"].lower())
        if not good:  # nothing created: an error (the lowest status of the items'), not a 207
            first = min(errors, key=lambda e: ITEM_STATUS.get(e["error"], 400))
            message = f"No events created: {len(errors)} errors"
            body = {"error": first["error"], "message": message, "details": {"errors": errors}}
            return JSONResponse(body, ITEM_STATUS.get(first["error"], 400))
        stored = await store(request, [(f, s) for _, f, s in good])
        created = [
            {"id": event_id, "websiteId": site.website_id, "eventType": fields["eventType"],
             "url": fields["url"], "createdAt": _iso(ts)}
            for (_, fields, site), (event_id, ts) in zip(good, stored, strict=True)
        ]  # fmt: skip
        body: dict[str, Any] = {
            "success": not errors,
            "eventsCreated": len(created),
            "events": created,
        }
        if errors:
            body["errors"] = errors
            body["message"] = f"Created {len(created)} events with {len(errors)} errors"
            return JSONResponse(body, 207)
        body["message"] = f"Successfully created {len(created)} events"
        return JSONResponse(body, 201)

    def read_int(params: Mapping[str, str], name: str, default: int, high: int) -> int:
        value = params.get(name)
        if value is None:
            return default
        if not value.isdigit():
            raise Invalid({name: ["Expected number"]}, "Invalid query parameters")
        if int(value) > high:
            raise Invalid({name: [f"Number must be less than or equal to {high}"]},
                          "Invalid query parameters")  # fmt: skip
        if name == "limit" and int(value) < 1:
            raise Invalid({name: ["Number must be greater than or equal to 1"]},
                          "Invalid query parameters")  # fmt: skip
        return int(value)

    def read_flag(params: Mapping[str, str], name: str) -> bool | None:
        value = params.get(name)
        if value is None:
            return None
        if value.lower() not in ("true", "false", "1", "0"):
            raise Invalid({name: ["Expected boolean"]}, "Invalid query parameters")
        return value.lower() in ("true", "1")

    @app.get("/api/v1/events", tags=["privacy-dashboard"])
    @answers_errors(error_answer)
    async def list_events(request: Request) -> JSONResponse:
        """A website's events, newest first (admin token, or the project's secret key); every
        event, bots included, unless ``isBot`` (or ``is_bot``) ``=true|false`` filters them."""
        project = reader(request)
        params = request.query_params
        code = params.get("trackingCode")
        if not code:
            raise Invalid({"trackingCode": ["Required"]}, "Invalid query parameters")
        event_type = params.get("eventType")
        if event_type is not None and event_type not in EVENT_TYPES:
            raise Invalid({"eventType": ["Invalid enum value"]}, "Invalid query parameters")
        bot = read_flag(params, "isBot") if "isBot" in params else read_flag(params, "is_bot")
        limit = read_int(params, "limit", event_query.DEFAULT_LIMIT, event_query.MAX_LIMIT)
        offset = read_int(params, "offset", 0, 10**9)
        site = await site_of(code)
        if site is None or (project is not None and site.project_id != project):
            body = {"error": "NOT_FOUND", "message": "Website with this tracking code not found"}
            return JSONResponse(body, 404)
        where = "project_id = {p:String} AND channel = {site:String}"
        parameters = {"p": site.project_id, "site": site.website_id}
        if event_type:
            where += " AND event = {type:String}"
            parameters["type"] = event_type
        if bot is not None:
            where += " AND is_bot = {bot:Bool}"
            parameters["bot"] = bot
        q = event_query.EventQuery(where, parameters, limit, offset)
        columns, rows, total = await edge.reads.events_page(site.project_id, q)
        return JSONResponse(
            {
                "events": [
                    row_to_event(event_query.row_to_json(columns, row), False) for row in rows
                ],
                "pagination": {"total": total, "limit": limit, "offset": offset},
            }
        )

    @app.get("/api/v1/events/{event_id}", tags=["privacy-dashboard"])
    @answers_errors(error_answer)
    async def get_event(event_id: str, request: Request) -> JSONResponse:
        """One event of a website (admin token, or the project's secret key)."""
        project = reader(request)
        where = "toString(event_id) = {id:String} AND startsWith(channel, 'web_')"
        parameters: dict[str, Any] = {"id": event_id}
        if project is not None:
            where += " AND project_id = {p:String}"
            parameters["p"] = project
        columns, rows = await edge.query(
            f"SELECT * FROM {edge.database}.events_resolved WHERE {where} LIMIT 1", parameters
        )
        if not rows:
            return JSONResponse({"error": "NOT_FOUND", "message": "Event not found"}, 404)
        return JSONResponse(row_to_event(event_query.row_to_json(columns, rows[0]), True))
