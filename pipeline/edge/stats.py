"""Plausible's Stats API v2 (``POST /api/v2/query``), its realtime visitors
(``GET /api/v1/stats/realtime/visitors``) and goals (``/api/v1/goals``) — docs/stats-api.md.

Read with the project's secret key (``Authorization: Bearer`` or ``X-API-Key``); ``site_id`` is
the project id, or a domain or tracking code of one of its websites. Errors keep Plausible's
shape, ``{"error": "..."}``, and its status codes."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pipeline.edge.client import api_key, same_secret
from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError, answers_errors
from pipeline.query.stats.request import QueryError, parse
from pipeline.query.stats.service import StatsService
from pipeline.registry.goals import GoalError

MAX_QUERY_BYTES = 64 * 1024
MISSING_KEY = "Missing API key. Please use a valid Plausible API key as a Bearer Token."
INVALID_KEY = (
    "Invalid API key or site ID. Please make sure you're using a valid API key with access "
    "to the site you've requested."
)
MISSING_SITE = "Missing site ID. Please provide the required site_id parameter with your request."


def plausible_error(request: Request, error: ApiError) -> JSONResponse:
    """Every error as ``{"error": message}``; a refused key as Plausible words it (401)."""
    if error.status in (401, 403):
        message = INVALID_KEY if api_key(request.headers) else MISSING_KEY
        return JSONResponse({"error": message}, 401)
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return JSONResponse({"error": error.message}, error.status, headers)


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_query", message)


def install(app: FastAPI, edge: Edge) -> None:
    service = StatsService(edge.services.aggregate_reads)
    admin_token = edge.settings.admin_token.get_secret_value()

    async def project_of(request: Request, site_id: Any) -> str:
        """The project the key reads (an admin token: the project ``site_id`` names)."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if admin_token and scheme.lower() == "bearer" and same_secret(given.strip(), admin_token):
            if not isinstance(site_id, str) or not site_id:
                raise _bad(MISSING_SITE)
            return site_id
        project_id = edge.authenticate_read(request)
        if not isinstance(site_id, str) or not site_id:
            raise _bad(MISSING_SITE)
        if not await run_in_threadpool(service.site_matches, project_id, site_id):
            raise ApiError(401, "unauthorized", INVALID_KEY)
        return project_id

    async def json_body(request: Request) -> Any:
        body = await edge.read_body(request, MAX_QUERY_BYTES, "the query")
        try:
            return orjson.loads(body or b"null")
        except orjson.JSONDecodeError:
            raise _bad("Invalid JSON body") from None

    @app.post("/api/v2/query", tags=["stats"])
    @answers_errors(plausible_error)
    async def stats_query(request: Request) -> JSONResponse:
        """Plausible Stats API v2: metrics over a date range, by dimensions, filtered."""
        body = await json_body(request)
        site_id = body.get("site_id") if isinstance(body, dict) else None
        project_id = await project_of(request, site_id)
        try:
            query = parse(body)
            answer = await run_in_threadpool(service.query, project_id, query)
        except QueryError as exc:
            raise _bad(str(exc)) from None

        return JSONResponse(answer)

    @app.get("/api/v1/stats/realtime/visitors", tags=["stats"])
    @answers_errors(plausible_error)
    async def realtime_visitors(request: Request) -> JSONResponse:
        """Current visitors: those with an event in the last 5 minutes (a bare number)."""
        project_id = await project_of(request, request.query_params.get("site_id"))
        return JSONResponse(await run_in_threadpool(service.realtime_visitors, project_id))

    @app.get("/api/v1/goals", tags=["stats"])
    @answers_errors(plausible_error)
    async def list_goals(request: Request) -> JSONResponse:
        site_id = request.query_params.get("site_id")
        project_id = await project_of(request, site_id or _own_project(edge, request))
        goals = await run_in_threadpool(service.goals.list, project_id)
        return JSONResponse({"goals": [_goal_json(g) for g in goals]})

    @app.post("/api/v1/goals", tags=["stats"], status_code=201)
    @answers_errors(plausible_error)
    async def add_goal(request: Request) -> JSONResponse:
        """A goal: ``event_name`` (a custom event; ``currency`` makes it a revenue goal) or
        ``page_path`` (a path pattern, ``*``/``**`` wildcards); ``display_name`` optional."""
        body = await json_body(request)
        if not isinstance(body, dict):
            raise _bad("the body is a JSON object")
        project_id = await project_of(request, body.get("site_id") or _own_project(edge, request))
        fields = {k: body.get(k) for k in ("event_name", "page_path", "display_name", "currency")}
        for name, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise _bad(f"{name}: a string")
        try:
            goal = await run_in_threadpool(service.goals.add, project_id, **fields)
        except GoalError as exc:
            raise _bad(str(exc)) from None
        return JSONResponse(_goal_json(goal), 201)

    @app.delete("/api/v1/goals/{goal_id}", tags=["stats"])
    @answers_errors(plausible_error)
    async def delete_goal(goal_id: str, request: Request) -> JSONResponse:
        site_id = request.query_params.get("site_id")
        project_id = await project_of(request, site_id or _own_project(edge, request))
        found = await run_in_threadpool(service.goals.delete, project_id, goal_id)
        if found is None:
            raise ApiError(404, "not_found", "Goal could not be found")
        return JSONResponse({"deleted": True})


def _own_project(edge: Edge, request: Request) -> str | None:
    """Without ``site_id``, a secret key's own project (goals only)."""
    principal = edge.services.registry.authenticate(api_key(request.headers))
    return principal.project_id if principal is not None else None


def _goal_json(goal: Any) -> dict[str, Any]:
    return {
        "id": goal.goal_id,
        "display_name": goal.display_name,
        "goal_type": goal.kind,
        "event_name": goal.event_name or None,
        "page_path": goal.page_path or None,
        "currency": goal.currency or None,
    }
