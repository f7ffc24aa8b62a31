"""The admin API: projects and keys while the server runs (the CLI needs the embedded engine to
itself). Every route needs ``Authorization: Bearer <TRACKHOUSE_ADMIN_TOKEN>``; with no token
configured the admin API answers 404 (it does not exist), a wrong token 401. Keys are shown once,
when issued; listings show their prefixes only."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from pipeline.edge import jsonbody
from pipeline.edge.client import same_secret
from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError
from pipeline.registry.projects import KeyInfo

ADMIN = "/admin/v1"


def _key_json(info: KeyInfo) -> dict[str, Any]:
    return {
        "project_id": info.project_id,
        "name": info.name,
        "kind": info.kind,
        "prefix": info.prefix,
        "created_at": info.created_at,
        "revoked": bool(info.revoked),
    }


def install(app: FastAPI, edge: Edge) -> None:
    token = edge.settings.admin_token.get_secret_value()
    registry = edge.services.registry

    def require_admin(request: Request) -> None:
        if not token:
            raise ApiError(404, "not_found", "the admin API is off (set TRACKHOUSE_ADMIN_TOKEN)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
            raise ApiError(401, "unauthorized", "admin token missing or wrong (Bearer)")

    async def json_body(request: Request) -> dict[str, Any]:
        document = jsonbody.loads(await edge.read_body(request, 4096, "the request") or b"{}")
        if not isinstance(document, dict):
            raise ApiError(400, "invalid_json", "the body is a JSON object")
        return document

    @app.post(f"{ADMIN}/projects", status_code=201, include_in_schema=False)
    async def create_project(request: Request) -> dict[str, Any]:
        """A new project and its two keys (shown once)."""
        require_admin(request)
        name = (await json_body(request)).get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise ApiError(422, "invalid_field", "name: 1 to 200 characters", "name")
        created = await run_in_threadpool(registry.create, name)
        return {
            "project_id": created.project_id,
            "name": created.name,
            "write_key": created.write_key,
            "secret_key": created.secret_key,
        }

    @app.get(f"{ADMIN}/projects/{{project_id}}/keys", include_in_schema=False)
    async def list_keys(project_id: str, request: Request) -> dict[str, Any]:
        require_admin(request)
        found = await run_in_threadpool(registry.keys, project_id)
        if not found:
            raise ApiError(404, "not_found", "no such project", "project_id")
        return {"keys": [_key_json(k) for k in found]}

    @app.post(f"{ADMIN}/projects/{{project_id}}/keys/rotate", include_in_schema=False)
    async def rotate_key(project_id: str, request: Request) -> dict[str, Any]:
        """A new key of ``kind`` (write|secret); the project's other keys of that kind are
        revoked at once."""
        require_admin(request)
        kind = (await json_body(request)).get("kind", "write")
        if kind not in ("write", "secret"):
            raise ApiError(422, "invalid_field", "kind: write or secret", "kind")
        try:
            key, revoked = await run_in_threadpool(registry.rotate, project_id, kind)
        except KeyError:
            raise ApiError(404, "not_found", "no such project", "project_id") from None
        return {"project_id": project_id, "kind": kind, "key": key, "revoked": len(revoked)}

    @app.post(f"{ADMIN}/keys/revoke", include_in_schema=False)
    async def revoke_key(request: Request) -> dict[str, Any]:
        """Revoke a key given in full or by its listed prefix; effective at once here (other
        edges see it within 30 s)."""
        require_admin(request)
        key = (await json_body(request)).get("key")
        if not isinstance(key, str) or not key:
            raise ApiError(422, "invalid_field", "key: the key or its prefix", "key")
        revoked = await run_in_threadpool(registry.revoke, key)
        if not revoked:
            raise ApiError(404, "not_found", "no active key matches", "key")
        return {"revoked": [_key_json(k) for k in revoked]}
