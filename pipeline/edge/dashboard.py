"""The dashboard (``dashboard/``, built by ``npm run build`` into ``static/dashboard``): its page
at ``/`` (no-cache, a Content-Security-Policy that allows this origin only: no CDN, no
third-party requests), its hashed assets at ``/dashboard/assets/`` (cached for a year), and
``GET /v1/dashboard/session``: who the signed-in key or token is (docs/dashboard.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from pipeline.edge.client import api_key, same_secret
from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError
from pipeline.registry.policies import list_projects

ROOT = Path(__file__).parent / "static" / "dashboard"
TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
IMMUTABLE = "public, max-age=31536000, immutable"
ROLES = {"secret": "secret", "read": "share"}


def _asset(name: str) -> Path | None:
    """A built asset by its (hashed) file name; nothing outside the assets folder."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = ROOT / "assets" / name
    return path if path.suffix in TYPES and path.is_file() else None


def install(app: FastAPI, edge: Edge) -> None:
    admin_token = edge.settings.admin_token.get_secret_value()
    clickhouse = edge.services.clickhouse

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        index = ROOT / "index.html"
        if not index.is_file():
            raise ApiError(
                404, "not_found", "the dashboard is not built (cd dashboard && npm run build)"
            )
        return Response(index.read_bytes(), media_type="text/html", headers=PAGE_HEADERS)

    @app.get("/dashboard/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        path = _asset(name)
        if path is None:
            raise ApiError(404, "not_found", "no such dashboard asset")
        headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
        return Response(path.read_bytes(), media_type=TYPES[path.suffix], headers=headers)

    @app.get("/v1/dashboard/session", tags=["dashboard"])
    async def session(request: Request) -> dict[str, Any]:
        """The signed-in principal: ``{"role": "admin", "projects": [...]}`` for the admin
        token, else ``{"role": "secret"|"share", "project_id", "name"}`` (401 for a bad key,
        403 for a write key)."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        projects = await run_in_threadpool(list_projects, clickhouse)
        if admin_token and scheme.lower() == "bearer" and same_secret(given.strip(), admin_token):
            listed = [{"project_id": p.project_id, "name": p.name} for p in projects]
            return {"role": "admin", "projects": listed}
        project_id = edge.authenticate_read(request)
        principal = edge.services.registry.authenticate(api_key(request.headers))
        name = next((p.name for p in projects if p.project_id == project_id), project_id)
        role = ROLES.get(principal.kind if principal else "secret", "secret")
        return {"role": role, "project_id": project_id, "name": name}
