"""Notification destinations, rules and deliveries over HTTP (docs/notifications.md).

Admin (``Authorization: Bearer <TRACKHOUSE_ADMIN_TOKEN>``), under
``/admin/v1/projects/{project_id}/notifications/``: ``destinations`` and ``rules`` (GET lists,
POST creates, DELETE ``.../{id}``), ``deliveries`` (attempts, newest first), ``dead`` (dead
letters) and ``replay`` (dead letters back to pending). With the project's secret key:
``GET /v1/notifications/deliveries``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from pipeline.edge import jsonbody
from pipeline.edge.admin import check_admin
from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError
from pipeline.notify.config import ConfigError, destination_from, rule_from
from pipeline.notify.store import NotifyStore, Pending
from pipeline.registry.policies import project_exists

BASE = "/admin/v1/projects/{project_id}/notifications"
STATUSES = ("", "sent", "failed", "dead")


def _pending_json(p: Pending) -> dict[str, Any]:
    return {
        "delivery_id": p.delivery_id,
        "destination_id": p.destination_id,
        "rule_id": p.rule_id,
        "event_id": p.event_id,
        "created_at": p.created_at,
        "attempts": p.attempts,
    }


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ApiError(400, "invalid_field", "limit: 1 to 1000", "limit")
    return int(raw)


def _status(request: Request) -> str:
    status = request.query_params.get("status", "")
    if status not in STATUSES:
        raise ApiError(400, "invalid_field", "status: sent, failed or dead", "status")
    return status


def install(app: FastAPI, edge: Edge) -> None:
    token = edge.settings.admin_token.get_secret_value()
    store = NotifyStore(edge.services.clickhouse)

    async def admin_project(request: Request, project_id: str) -> None:
        check_admin(token, request)
        if not await run_in_threadpool(project_exists, edge.services.clickhouse, project_id):
            raise ApiError(404, "not_found", "no such project", "project_id")

    async def json_body(request: Request) -> dict[str, Any]:
        document = jsonbody.loads(await edge.read_body(request, 16384, "the request") or b"{}")
        if not isinstance(document, dict):
            raise ApiError(400, "invalid_json", "the body is a JSON object")
        return document

    @app.get(BASE + "/destinations", include_in_schema=False)
    async def list_destinations(project_id: str, request: Request) -> dict[str, Any]:
        await admin_project(request, project_id)
        found = await run_in_threadpool(store.destinations, project_id)
        return {"destinations": [d.to_json() for d in found]}

    @app.post(BASE + "/destinations", status_code=201, include_in_schema=False)
    async def add_destination(project_id: str, request: Request) -> dict[str, Any]:
        """A destination; a webhook's signing ``secret`` is shown in full once, here."""
        await admin_project(request, project_id)
        try:
            destination = destination_from(project_id, await json_body(request))
        except ConfigError as exc:
            raise ApiError(422, "invalid_field", str(exc), exc.field) from None
        await run_in_threadpool(store.put_destination, destination)
        return destination.to_json(show_secret=True)

    @app.delete(BASE + "/destinations/{destination_id}", include_in_schema=False)
    async def delete_destination(
        project_id: str, destination_id: str, request: Request
    ) -> dict[str, Any]:
        await admin_project(request, project_id)
        if not await run_in_threadpool(store.delete_destination, project_id, destination_id):
            raise ApiError(404, "not_found", "no such destination", "destination_id")
        return {"deleted": destination_id}

    @app.get(BASE + "/rules", include_in_schema=False)
    async def list_rules(project_id: str, request: Request) -> dict[str, Any]:
        await admin_project(request, project_id)
        return {"rules": [r.to_json() for r in await run_in_threadpool(store.rules, project_id)]}

    @app.post(BASE + "/rules", status_code=201, include_in_schema=False)
    async def add_rule(project_id: str, request: Request) -> dict[str, Any]:
        await admin_project(request, project_id)
        try:
            rule = rule_from(project_id, await json_body(request))
        except ConfigError as exc:
            raise ApiError(422, "invalid_field", str(exc), exc.field) from None
        if rule.destination_id:
            known = await run_in_threadpool(store.destinations, project_id)
            if rule.destination_id not in {d.destination_id for d in known}:
                raise ApiError(422, "invalid_field", "no such destination", "destination_id")
        await run_in_threadpool(store.put_rule, rule)
        return rule.to_json()

    @app.delete(BASE + "/rules/{rule_id}", include_in_schema=False)
    async def delete_rule(project_id: str, rule_id: str, request: Request) -> dict[str, Any]:
        await admin_project(request, project_id)
        if not await run_in_threadpool(store.delete_rule, project_id, rule_id):
            raise ApiError(404, "not_found", "no such rule", "rule_id")
        return {"deleted": rule_id}

    @app.get(BASE + "/deliveries", include_in_schema=False)
    async def admin_deliveries(project_id: str, request: Request) -> dict[str, Any]:
        await admin_project(request, project_id)
        found = await run_in_threadpool(
            store.attempts, project_id, _status(request), _limit(request)
        )
        return {"deliveries": found}

    @app.get(BASE + "/dead", include_in_schema=False)
    async def dead_letters(project_id: str, request: Request) -> dict[str, Any]:
        await admin_project(request, project_id)
        found = await run_in_threadpool(store.outbox, "dead", project_id, _limit(request))
        return {"dead": [_pending_json(p) for p in found]}

    @app.post(BASE + "/replay", include_in_schema=False)
    async def replay(project_id: str, request: Request) -> dict[str, Any]:
        """Dead letters back to pending (``delivery_ids``, or every one of the project)."""
        await admin_project(request, project_id)
        ids = (await json_body(request)).get("delivery_ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ApiError(422, "invalid_field", "delivery_ids: a list of ids", "delivery_ids")
        replayed = await run_in_threadpool(store.replay, project_id, ids)
        return {"replayed": [p.delivery_id for p in replayed]}

    @app.get("/v1/notifications/deliveries", include_in_schema=False)
    async def deliveries(request: Request) -> dict[str, Any]:
        """Delivery attempts of the key's project (secret key), newest first."""
        project_id = edge.authenticate_read(request)
        found = await run_in_threadpool(
            store.attempts, project_id, _status(request), _limit(request)
        )
        return {"deliveries": found}
