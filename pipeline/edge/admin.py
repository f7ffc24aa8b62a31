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
from pipeline.privacy.retention import Policy
from pipeline.registry.policies import check_days, list_projects, set_retention
from pipeline.registry.projects import KeyInfo

ADMIN = "/admin/v1"
RETENTION_FIELDS = ("anonymous_retention_days", "retention_days")


def _policy_json(policy: Policy) -> dict[str, int]:
    return {
        "anonymous_retention_days": policy.anonymous_retention_days,
        "retention_days": policy.retention_days,
    }


def _key_json(info: KeyInfo) -> dict[str, Any]:
    return {
        "project_id": info.project_id,
        "name": info.name,
        "kind": info.kind,
        "prefix": info.prefix,
        "created_at": info.created_at,
        "revoked": bool(info.revoked),
    }


def check_admin(token: str, request: Request) -> None:
    """404 while no admin token is set, 401 for a missing or wrong one."""
    if not token:
        raise ApiError(404, "not_found", "the admin API is off (set TRACKHOUSE_ADMIN_TOKEN)")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
        raise ApiError(401, "unauthorized", "admin token missing or wrong (Bearer)")


def install(app: FastAPI, edge: Edge) -> None:
    token = edge.settings.admin_token.get_secret_value()
    registry = edge.services.registry
    clickhouse = edge.services.clickhouse
    default_policy = Policy(edge.settings.anonymous_retention_days, edge.settings.retention_days)

    def require_admin(request: Request) -> None:
        check_admin(token, request)

    async def json_body(request: Request) -> dict[str, Any]:
        document = jsonbody.loads(await edge.read_body(request, 4096, "the request") or b"{}")
        if not isinstance(document, dict):
            raise ApiError(400, "invalid_json", "the body is a JSON object")
        return document

    @app.post(f"{ADMIN}/projects", status_code=201, include_in_schema=False)
    async def create_project(request: Request) -> dict[str, Any]:
        """A new project and its two keys (shown once); ``anonymous_retention_days`` and
        ``retention_days`` optional (retention is off by default)."""
        require_admin(request)
        document = await json_body(request)
        name = document.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise ApiError(422, "invalid_field", "name: 1 to 200 characters", "name")
        created = await run_in_threadpool(registry.create, name)
        policy = default_policy
        if any(field in document for field in RETENTION_FIELDS):
            policy = await _set_retention(created.project_id, document)
        return {
            "project_id": created.project_id,
            "name": created.name,
            "write_key": created.write_key,
            "secret_key": created.secret_key,
            **_policy_json(policy),
        }

    async def _set_retention(project_id: str, document: dict[str, Any]) -> Policy:
        for field in RETENTION_FIELDS:
            if field in document:
                try:
                    check_days(field, document[field])
                except ValueError as exc:
                    raise ApiError(422, "invalid_field", str(exc), field) from None
        try:
            return await run_in_threadpool(
                set_retention,
                clickhouse,
                project_id,
                document.get("anonymous_retention_days"),
                document.get("retention_days"),
                default_policy,
            )
        except KeyError:
            raise ApiError(404, "not_found", "no such project", "project_id") from None

    @app.get(f"{ADMIN}/projects", include_in_schema=False)
    async def list_all(request: Request) -> dict[str, Any]:
        """Every project with its active key count and retention policy."""
        require_admin(request)
        found = await run_in_threadpool(list_projects, clickhouse, default_policy)
        return {"projects": [p.to_json() for p in found]}

    @app.put(f"{ADMIN}/projects/{{project_id}}/retention", include_in_schema=False)
    async def put_retention(project_id: str, request: Request) -> dict[str, Any]:
        """Set the project's retention policy: ``anonymous_retention_days`` and/or
        ``retention_days`` (whole days, 0 = keep forever; a field left out keeps its value)."""
        require_admin(request)
        policy = await _set_retention(project_id, await json_body(request))
        return {"project_id": project_id, **_policy_json(policy)}

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

    @app.post(f"{ADMIN}/projects/{{project_id}}/share", status_code=201, include_in_schema=False)
    async def share_token(project_id: str, request: Request) -> dict[str, Any]:
        """A read-only share token (a public dashboard link): it reads the project, never writes
        or changes it; listed and revoked like the project's keys."""
        require_admin(request)
        if not await run_in_threadpool(registry.keys, project_id):
            raise ApiError(404, "not_found", "no such project", "project_id")
        token = await run_in_threadpool(registry.issue_key, project_id, "share link", "read")
        return {"project_id": project_id, "kind": "read", "token": token}

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
