"""Plans and violations in ClickHouse (``tracking_plans``, ``plan_violations``), through any
client with ``query`` and ``insert`` (``ClickHouse``, or the embedded owner's remote)."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from pipeline.sink.rows import Block, RecordBlock
from schemas.plans import VIOLATION_COLUMNS, PlanViolation, TrackingPlan, decode_plan

PLAN_COLUMNS = ("project_id", "version", "mode", "plan", "pushed_at")


def latest_versions(clickhouse: Any) -> dict[str, int]:
    """Project -> the version of its plan in force."""
    _, rows = clickhouse.query(
        f"SELECT project_id, max(version) FROM {clickhouse.database}.tracking_plans "
        "GROUP BY project_id"
    )
    return {project: int(version) for project, version in rows}


def load_plan(clickhouse: Any, project_id: str, version: int | None = None) -> TrackingPlan | None:
    """The project's plan (the latest, or ``version``), None when it has none."""
    where = "project_id = {p:String}" + (" AND version = {v:UInt32}" if version else "")
    _, rows = clickhouse.query(
        f"SELECT plan FROM {clickhouse.database}.tracking_plans WHERE {where} "
        "ORDER BY version DESC LIMIT 1",
        {"p": project_id, "v": version or 0},
    )
    return decode_plan(rows[0][0]) if rows else None


def save_plan(clickhouse: Any, project_id: str, plan: TrackingPlan) -> TrackingPlan:
    """Store ``plan`` as the project's next version; returns it with project and version set.
    (Two pushes at once may pick the same number: the later write wins, as for any PUT.)"""
    versions = latest_versions_of(clickhouse, project_id)
    stored = msgspec.structs.replace(plan, project_id=project_id, version=versions + 1)
    row = [
        project_id,
        stored.version,
        stored.mode,
        msgspec.json.encode(stored).decode(),
        int(time.time() * 1000),
    ]
    clickhouse.insert(Block("tracking_plans", PLAN_COLUMNS, [[value] for value in row]))
    return stored


def latest_versions_of(clickhouse: Any, project_id: str) -> int:
    _, rows = clickhouse.query(
        f"SELECT max(version) FROM {clickhouse.database}.tracking_plans "
        "WHERE project_id = {p:String}",
        {"p": project_id},
    )
    return int(rows[0][0] or 0) if rows else 0


def violation_block(violations: list[PlanViolation]) -> RecordBlock:
    """Rows of ``plan_violations``."""
    return RecordBlock("plan_violations", VIOLATION_COLUMNS, violations)


def find_violations(
    clickhouse: Any,
    project_id: str,
    since_ms: int = 0,
    event: str | None = None,
    rule: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The project's violations, newest first."""
    where = ["project_id = {p:String}", "at >= fromUnixTimestamp64Milli({s:Int64})"]
    params: dict[str, Any] = {"p": project_id, "s": since_ms}
    if event is not None:
        where.append("event = {e:String}")
        params["e"] = event
    if rule is not None:
        where.append("rule = {r:String}")
        params["r"] = rule
    columns, rows = clickhouse.query(
        "SELECT event_id, event, rule, property, expected, got, "
        "toUnixTimestamp64Milli(at) AS at, plan_version "
        f"FROM {clickhouse.database}.plan_violations FINAL WHERE {' AND '.join(where)} "
        f"ORDER BY at DESC, event_id, rule, property LIMIT {int(limit)}",
        params,
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]
