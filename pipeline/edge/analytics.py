"""Analytics beyond raw rows (docs/analytics-api.md): ``POST /v1/funnels``, ``GET
/v1/retention``, ``GET /v1/revenue`` and ``GET /v1/users/{id}``, read with the project's secret
key. The SQL is built in ``pipeline/query``; a wrong parameter is ``400 invalid_query`` naming
it, an unknown user ``404 not_found``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError
from pipeline.query import funnels, retention, revenue, users
from pipeline.query.conditions import bounded_int
from pipeline.query.invalid import InvalidQuery

log = structlog.get_logger(__name__)
MAX_BODY_BYTES = 64 * 1024


def _params(request: Request) -> dict[str, str]:
    """Query parameters (the last value of a repeated one)."""
    return dict(request.query_params.items())


def _json(body: Any) -> JSONResponse:
    return JSONResponse(orjson.loads(orjson.dumps(body)))


def _query_parameters(**described: str) -> dict[str, Any]:
    """OpenAPI ``parameters`` of a GET route: optional strings, each with its description."""
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
             "description": text}
            for name, text in described.items()
        ]
    }  # fmt: skip


_STEP = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "page": {"type": "string", "description": "path pattern: * any but /, ** anything"},
        "filters": {"type": "object", "additionalProperties": {"type": ["string", "number",
                                                                        "boolean"]}},
        "name": {"type": "string"},
    },
}  # fmt: skip
FUNNEL_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["steps"],
                    "properties": {
                        "steps": {"type": "array", "items": _STEP, "minItems": 2,
                                  "maxItems": funnels.MAX_STEPS},
                        "window": {"type": ["string", "number"], "description": "1h, 30m, 7d"},
                        "date_range": {"type": ["string", "array"]},
                        "breakdown": {"type": "string"},
                        "breakdown_limit": {"type": "integer", "minimum": 1, "maximum": 100},
                        "counting": {"type": "string", "enum": ["users", "visitors"]},
                        "include_bots": {"type": "boolean"},
                    },
                }
            }
        },
    }
}  # fmt: skip
RETENTION_PARAMETERS = _query_parameters(
    period="week (default) or day",
    cohorts="how many cohorts (default 12)",
    first_event="the event that puts a person in a cohort (default: any)",
    returning_event="the event that counts as coming back (default: any)",
    end="the last day, YYYY-MM-DD (default: today, UTC)",
    counting="users (default) or visitors",
    include_bots="true to count bots",
)
REVENUE_PARAMETERS = _query_parameters(
    date_range="first,last (YYYY-MM-DD) or 7d, 30d (default), month, 6mo, year",
    interval="day (default), week or month",
    include_bots="true to count bots",
)


def install(app: FastAPI, edge: Edge) -> None:
    """Add the analytics routes to ``app``."""
    database = edge.database

    run = edge.aggregate  # a parameterised read of many rows, off the event loop

    def today() -> Any:
        return datetime.now(UTC).date()

    @app.post("/v1/funnels", tags=["analytics"], openapi_extra=FUNNEL_BODY)
    async def post_funnel(request: Request) -> JSONResponse:
        """Per-step counts, conversion and drop-off of an ordered funnel (``windowFunnel``)."""
        project_id = edge.authenticate_read(request)
        raw = await edge.read_body(request, MAX_BODY_BYTES, "the funnel")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "invalid_json", "the body is not JSON") from None
        funnel = funnels.parse(project_id, body, database, today())
        _, rows = await run(funnel.sql, funnel.parameters)
        return _json(funnels.answer(funnel, rows))

    @app.get("/v1/retention", tags=["analytics"], openapi_extra=RETENTION_PARAMETERS)
    async def get_retention(request: Request) -> JSONResponse:
        """Cohorts by first-seen day or week and how many came back in each later period."""
        project_id = edge.authenticate_read(request)
        query = retention.parse(project_id, _params(request), database, today())
        _, rows = await run(query.sql, query.parameters)
        return _json(retention.answer(query, rows))

    @app.get("/v1/revenue", tags=["analytics"], openapi_extra=REVENUE_PARAMETERS)
    async def get_revenue(request: Request) -> JSONResponse:
        """Revenue per currency: totals, average, per event, series, MRR and ARPU."""
        project_id = edge.authenticate_read(request)
        query = revenue.parse(project_id, _params(request), database, today())
        _, sums = await run(query.sums, query.parameters)
        _, payers = await run(query.payers, query.parameters)
        _, mrr = await run(query.mrr, query.parameters)
        return _json(revenue.answer(query, sums, payers, mrr))

    @app.get(
        "/v1/users/{user_id}",
        tags=["analytics"],
        openapi_extra=_query_parameters(limit="sessions and recent events shown (1-100, 20)"),
    )
    async def get_user(user_id: str, request: Request) -> JSONResponse:
        """A user's traits, first-touch attribution, counts, sessions and recent events."""
        project_id = edge.authenticate_read(request)
        params = _params(request)
        unknown = set(params) - {"limit"}
        if unknown:
            raise InvalidQuery(sorted(unknown)[0], "unknown parameter")
        limit = bounded_int(params.get("limit"), "limit", 20, 1, users.MAX_LIMIT)
        body = await users.profile(edge.query, database, project_id, user_id, limit)
        if body is None:
            raise ApiError(404, "not_found", "no such user in this project", "user_id")
        return _json(body)
