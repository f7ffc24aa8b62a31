"""The native HTTP API (FastAPI). Handlers parse, authenticate, validate and hand events to a
publisher (the embedded spool, or Kafka); reads go to ClickHouse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from pipeline import metrics
from pipeline.edge import (
    admin,
    analytics,
    browser,
    dashboard,
    dialects,
    notify_api,
    plans,
    stats,
    stream,
)
from pipeline.edge.context import Edge, EdgeServices
from pipeline.edge.cors import RouteCors
from pipeline.edge.dialects import ascendkit, segment
from pipeline.edge.errors import ApiError, error_shape, unavailable
from pipeline.edge.health import Probe
from pipeline.edge.ingest import BatchItem, parse_batch, parse_single
from pipeline.edge.publisher import PublishUnavailableError
from pipeline.query import event_filters as event_query
from pipeline.query import live_sql
from pipeline.runtime.owner import OwnerError
from schemas.events import BatchAccepted, ErrorBody, EventAccepted, EventBatch, NativeEvent
from schemas.export import inlined_schema

log = structlog.get_logger(__name__)


class ORJSONResponse(JSONResponse):
    """JSON rendered by orjson (datetimes, UUIDs and dataclasses included)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _iso_ms(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error_response(error: ApiError, headers: dict[str, str] | None = None) -> ORJSONResponse:
    return ORJSONResponse(error.body(), status_code=error.status, headers=headers)


def _body_schema(model: type) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inlined_schema(model)}},
        }
    }


ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 413, 415, 422, 429, 503)}


def create_app(
    services: EdgeServices,
    lifespan_hooks: tuple[Callable[[], Awaitable[None] | None], ...] = (),
    startup_hooks: tuple[Callable[[], Awaitable[None] | None], ...] = (),
) -> FastAPI:
    """The HTTP API. ``startup_hooks`` run before it serves, ``lifespan_hooks`` at shutdown."""
    edge = Edge(services)
    limits = edge.limits

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for hook in startup_hooks:
            result = hook()
            if result is not None:
                await result
        yield
        for hook in lifespan_hooks:
            result = hook()
            if result is not None:
                await result

    app = FastAPI(
        title="Trackhouse",
        version="0.1.0",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )

    def _answer(request: Request, error: ApiError) -> Response:
        """The error in the route's own shape (a dialect's), else ``{error, message, field}``."""
        shape = error_shape(request)
        shaped = shape(request, error) if shape else None
        if shaped is not None:
            return shaped
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return _error_response(error, headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        metrics.EVENTS_REJECTED.labels(exc.error).inc()
        return _answer(request, exc)

    @app.exception_handler(PublishUnavailableError)
    async def _unavailable(request: Request, exc: PublishUnavailableError) -> Response:
        log.error("edge.publish_unavailable", reason=str(exc))
        return _answer(request, unavailable(str(exc)))

    @app.exception_handler(OwnerError)
    @app.exception_handler(OperationalError)  # a ClickHouse server unreachable or too slow
    async def _storage_unavailable(request: Request, exc: Exception) -> Response:
        log.error("edge.storage_unavailable", reason=str(exc))
        error = ApiError(503, "unavailable", "storage did not answer; retry later", None, 5)
        return _answer(request, error)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> Response:
        log.info("edge.client_disconnected")  # e.g. its body did not arrive in time
        return Response(status_code=400)  # never delivered

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # (a 405 keeps the endpoint of the path it matched: a dialect's route answers its shape)
        return _answer(request, ApiError(exc.status_code, "http_error", str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> ORJSONResponse:
        log.exception("edge.unexpected_error", error_type=type(exc).__name__)
        return _error_response(ApiError(500, "internal_error", "unexpected error"))

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=EventAccepted,
        responses=ERRORS,
        openapi_extra=_body_schema(NativeEvent),
    )
    async def post_event(request: Request) -> ORJSONResponse:
        """Accept one event. AscendKit's SDK (its ``X-AscendKit-Public-Key`` or
        ``X-AscendKit-Secret-Key`` header) posts a signed-in user's events here: its dialect."""
        if ascendkit.claims_events(request):
            return await ascendkit.post_events(edge, request)
        project_id = edge.authenticate(request)
        browser.require_json(request.headers)
        body = await edge.read_body(request, limits.max_event_bytes, "the event")
        event = parse_single(body, limits)
        [raw] = await edge.accept([event], edge.request_info(request, project_id))
        body = {"id": raw.event_id, "event": raw.event, "timestamp": _iso_ms(raw.timestamp)}
        return ORJSONResponse(body, status_code=202)

    @app.post(
        "/v1/batch",
        status_code=202,
        response_model=BatchAccepted,
        responses=ERRORS,
        openapi_extra=_body_schema(EventBatch),
    )
    async def post_batch(request: Request) -> ORJSONResponse:
        """Accept a batch; valid events are kept even when others are refused. Segment's
        ``{"batch": [...]}`` (Basic auth or ``writeKey`` in the body) goes to its dialect."""
        if segment.claims_batch(request):
            return await segment.post_batch(edge, request)
        project_id = edge.authenticate(request, beacon=True)
        browser.require_json(request.headers)
        body = await edge.read_body(request, limits.max_batch_bytes, "the batch")
        items = parse_batch(body, limits)
        good = [item.event for item in items if item.event is not None]
        await edge.accept(good, edge.request_info(request, project_id))
        errors = [_batch_error(item) for item in items if item.error is not None]
        body, status = edge.batch_answer(len(good), len(items), errors)
        return ORJSONResponse(body, status_code=status)

    def page_answer(
        key: str, q: event_query.EventQuery, page: tuple[list[str], list[Any], int]
    ) -> ORJSONResponse:
        """One page of rows under ``key`` with the total matching ``q``."""
        columns, rows, total = page
        return ORJSONResponse(
            {
                key: [event_query.row_to_json(columns, row) for row in rows],
                "pagination": {"total": total, "limit": q.limit, "offset": q.offset},
            }
        )

    @app.get("/v1/events", responses=ERRORS, openapi_extra=event_query.openapi_parameters())
    async def list_events(request: Request) -> ORJSONResponse:
        """Events of the key's project, newest first, with the user resolved retroactively;
        every event by default, bots included (``is_bot=true|false`` filters them)."""
        project_id = edge.authenticate_read(request)
        q = event_query.build_query(project_id, request.query_params)
        return page_answer("events", q, await edge.reads.events_page(project_id, q))

    @app.get("/v1/events/{event_id}", responses=ERRORS | {404: {"model": ErrorBody}})
    async def get_event(event_id: str, request: Request) -> ORJSONResponse:
        """One event of the key's project."""
        project_id = edge.authenticate_read(request)
        db = edge.database
        sql = (
            f"SELECT * FROM {db}.events_resolved WHERE project_id = {{p:String}} "
            "AND toString(event_id) = {id:String} LIMIT 1"
        )
        columns, rows = await edge.query(sql, {"p": project_id, "id": event_id})
        if not rows:
            raise ApiError(404, "not_found", "no such event in this project", "id")
        return ORJSONResponse(event_query.row_to_json(columns, rows[0]))

    @app.get(
        "/v1/sessions",
        responses=ERRORS,
        openapi_extra=event_query.openapi_parameters(
            event_query.SESSION_STRING_FILTERS, event_query.SESSION_BOOL_FILTERS
        ),
    )
    async def list_sessions(request: Request) -> ORJSONResponse:
        """Sessions of the key's project (one row each, current), newest first, with the user
        resolved retroactively (a visitor's sessions before signup are the user's); bots' too
        (``is_bot``: the session's first event's flag)."""
        project_id = edge.authenticate_read(request)
        q = event_query.build_session_query(project_id, request.query_params)
        answer = await edge.reads.sessions_page(project_id, q)
        return page_answer("sessions", q, event_query.with_session_bot_flag(*answer))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (nothing else is asked)."""
        return {"status": "ok"}

    clickhouse_probe = Probe("ClickHouse", lambda: services.clickhouse.query("SELECT 1"))

    @app.get("/readyz")
    async def readyz() -> ORJSONResponse:
        """Readiness: ClickHouse answers ``SELECT 1`` within 1 s and the publisher (spool or
        Kafka) can take events; when not, ``reasons`` says why."""
        clickhouse, publisher = await asyncio.gather(
            clickhouse_probe(), services.publisher.readiness()
        )
        reasons = {"clickhouse": clickhouse, "publisher": publisher}
        body: dict[str, Any] = {
            "status": "unavailable" if any(reasons.values()) else "ready",
            "checks": {name: not why for name, why in reasons.items()},
        }
        if any(reasons.values()):
            body["reasons"] = {name: why for name, why in reasons.items() if why}
            log.warning("edge.not_ready", **body["reasons"])
        return ORJSONResponse(body, status_code=503 if any(reasons.values()) else 200)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        text = await run_in_threadpool(services.metrics_text)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    app.mount(
        live_sql.PREFIX, live_sql.create(services.settings, services.live_sql, _timezone(services))
    )
    browser.install(app)
    app.add_middleware(RouteCors, origins=services.settings.cors_origins)
    admin.install(app, edge)
    plans.install(app, edge)
    notify_api.install(app, edge)
    stream.install(app, edge)
    dialects.install(app, edge)
    stats.install(app, edge)
    analytics.install(app, edge)
    dashboard.install(app, edge)

    return app


def _timezone(services: EdgeServices) -> str:
    """The engine's time zone, which live SQL reports (X-ClickHouse-Timezone) to clients."""
    if services.live_sql is None or not services.settings.analyst_token.get_secret_value():
        return "UTC"
    try:
        return str(services.clickhouse.query("SELECT timezone()")[1][0][0])
    except Exception:  # reported as UTC; the queries themselves will say what is wrong
        return "UTC"


def _batch_error(item: BatchItem) -> dict[str, Any]:
    assert item.error is not None
    return {
        "index": item.index,
        "error": item.error.error,
        "message": item.error.message,
        "field": item.error.field,
        "status": item.error.status,
    }
