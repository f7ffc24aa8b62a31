"""``GET /v1/ingestion_warnings``: what the dialect adapters refused or changed (secret key)."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError

MAX_LIMIT = 1000


def install(app: FastAPI, edge: Edge) -> None:
    @app.get("/v1/ingestion_warnings", tags=["dialects"])
    async def list_ingestion_warnings(request: Request) -> JSONResponse:
        """The project's ingestion warnings, newest first (``?source=``, ``?type=``,
        ``?limit=`` up to 1000)."""
        project_id = edge.authenticate_read(request)
        query = request.query_params
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise ApiError(422, "invalid_field", f"limit: 1..{MAX_LIMIT}", "limit")
        where = ["project_id = {p:String}"]
        params = {"p": project_id}
        for name in ("source", "type"):
            if query.get(name):
                where.append(f"{name} = {{{name}:String}}")
                params[name] = query[name]
        sql = (
            "SELECT source, type, details, toUnixTimestamp64Milli(timestamp) AS timestamp "
            f"FROM {edge.database}.ingestion_warnings WHERE {' AND '.join(where)} "
            f"ORDER BY timestamp DESC LIMIT {int(limit_text)}"
        )
        _, rows = await edge.query(sql, params)
        warnings = [
            {"source": source, "type": kind, "details": orjson.loads(details), "timestamp": at}
            for source, kind, details, at in rows
        ]
        return JSONResponse({"warnings": warnings})
