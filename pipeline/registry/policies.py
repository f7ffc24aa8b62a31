"""Projects as listed to operators, with their retention policy (``project_policies`` table;
see ``pipeline.privacy.retention``). Keys themselves are ``projects.ProjectRegistry``'s."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog

from pipeline.privacy.retention import MAX_DAYS, Policy, policies
from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
OFF = Policy()
POLICY_COLUMNS = ("project_id", "anonymous_retention_days", "retention_days", "updated_at")


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    project_id: str
    name: str
    created_at: Any
    active_keys: int
    policy: Policy
    policy_is_default: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "name": self.name,
            "created_at": str(self.created_at),
            "active_keys": self.active_keys,
            "anonymous_retention_days": self.policy.anonymous_retention_days,
            "retention_days": self.policy.retention_days,
            "retention_policy": "default" if self.policy_is_default else "project",
        }


def list_projects(clickhouse: Any, default: Policy = OFF) -> list[ProjectInfo]:
    """Every project (oldest first) with its retention policy, or ``default`` without one."""
    _, rows = clickhouse.query(
        "SELECT project_id, argMin(name, created_at), min(created_at), countIf(NOT revoked) "
        f"FROM {clickhouse.database}.projects FINAL GROUP BY project_id ORDER BY min(created_at)"
    )
    own = policies(clickhouse)
    return [
        ProjectInfo(
            project, name, created, int(active), own.get(project, default), project not in own
        )
        for project, name, created, active in rows
    ]


def project_exists(clickhouse: Any, project_id: str) -> bool:
    _, rows = clickhouse.query(
        f"SELECT count() FROM {clickhouse.database}.projects WHERE project_id = {{p:String}}",
        {"p": project_id},
    )
    return int(rows[0][0]) > 0


def check_days(field: str, value: Any) -> int:
    """A number of days (0 = keep forever), or ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise ValueError(f"{field}: a whole number of days from 0 (keep) to {MAX_DAYS}")
    return value


def set_retention(
    clickhouse: Any,
    project_id: str,
    anonymous_retention_days: int | None = None,
    retention_days: int | None = None,
    default: Policy = OFF,
) -> Policy:
    """Set the project's policy (a value not given keeps its current one); KeyError for an
    unknown project, ValueError for a bad number of days."""
    if not project_exists(clickhouse, project_id):
        raise KeyError(project_id)
    current = policies(clickhouse).get(project_id, default)
    policy = Policy(
        check_days("anonymous_retention_days", anonymous_retention_days)
        if anonymous_retention_days is not None
        else current.anonymous_retention_days,
        check_days("retention_days", retention_days)
        if retention_days is not None
        else current.retention_days,
    )
    now_ms = int(time.time() * 1000)
    row = (project_id, policy.anonymous_retention_days, policy.retention_days, now_ms)
    clickhouse.insert(Block("project_policies", POLICY_COLUMNS, [[value] for value in row]))
    log.info(
        "project.retention_set",
        project_id=project_id,
        anonymous_retention_days=policy.anonymous_retention_days,
        retention_days=policy.retention_days,
    )
    return policy
