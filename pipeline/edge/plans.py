"""``/v1/plan``: the project's tracking plan (secret key) — read it, replace it (a new
version, in force in the pipeline within ``TRACKHOUSE_PLAN_RELOAD_SECONDS``), and read the
violations the pipeline recorded."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError
from pipeline.plans import store
from pipeline.plans.document import PlanError, parse_text, plan_document, to_plan
from pipeline.plans.lint import lint
from pipeline.plans.schema import plan_schema
from schemas.plans import RULES

PLAN_BODY_LIMIT = 4 << 20
MAX_LIMIT = 1000


def install(app: FastAPI, edge: Edge) -> None:
    clickhouse = edge.services.clickhouse

    async def current(project_id: str, version: str | None) -> Any:
        if version is not None and not version.isdigit():
            raise ApiError(422, "invalid_field", "version: a positive integer", "version")
        plan = await run_in_threadpool(
            store.load_plan, clickhouse, project_id, int(version) if version else None
        )
        if plan is None:
            raise ApiError(404, "not_found", "this project has no tracking plan (PUT /v1/plan)")
        return plan

    @app.get("/v1/plan", tags=["plans"])
    async def get_plan(request: Request) -> dict[str, Any]:
        """The plan in force (``?version=`` an older one)."""
        project_id = edge.authenticate_read(request)
        return plan_document(await current(project_id, request.query_params.get("version")))

    @app.get("/v1/plan/schema", tags=["plans"])
    async def get_plan_schema(request: Request) -> dict[str, Any]:
        """The plan as JSON Schema (draft 2020-12) of a native event."""
        project_id = edge.authenticate_read(request)
        return plan_schema(await current(project_id, request.query_params.get("version")))

    @app.put("/v1/plan", tags=["plans"])
    async def put_plan(request: Request) -> dict[str, Any]:
        """Store a plan (JSON or YAML body) as the project's next version. Answers the
        version and the lint findings (naming rules the plan breaks; they do not refuse it)."""
        project_id = edge.authenticate_read(request)
        body = await edge.read_body(request, PLAN_BODY_LIMIT, "the plan")
        try:  # off the event loop: a large YAML document takes a while
            plan = await run_in_threadpool(lambda: to_plan(parse_text(body)))
        except PlanError as exc:
            raise ApiError(422, "invalid_plan", exc.message, exc.field) from None
        stored = await run_in_threadpool(store.save_plan, clickhouse, project_id, plan)
        return {
            "project_id": project_id,
            "version": stored.version,
            "mode": stored.mode,
            "lint": [finding.as_json() for finding in lint(stored)],
        }

    @app.get("/v1/plan/violations", tags=["plans"])
    async def get_violations(request: Request) -> dict[str, Any]:
        """Violations recorded by the pipeline, newest first: ``?since=`` (epoch ms),
        ``?event=``, ``?rule=``, ``?limit=`` (up to 1000)."""
        project_id = edge.authenticate_read(request)
        query = request.query_params
        limit, since = query.get("limit", "100"), query.get("since", "0")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise ApiError(422, "invalid_field", f"limit: 1..{MAX_LIMIT}", "limit")
        if not since.isdigit():
            raise ApiError(422, "invalid_field", "since: epoch milliseconds", "since")
        rule = query.get("rule")
        if rule is not None and rule not in RULES:
            raise ApiError(422, "invalid_field", f"rule: one of {', '.join(RULES)}", "rule")
        found = await run_in_threadpool(
            store.find_violations,
            clickhouse,
            project_id,
            int(since),
            query.get("event"),
            rule,
            int(limit),
        )
        return {"violations": found, "as_of": int(time.time() * 1000)}
