"""Retention, a per-project policy and off by default: events and sessions of never-identified
visitors older than ``anonymous_retention_days``, and every event and session older than
``retention_days``, are purged (0 = keep forever). A project without a policy of its own follows
the settings ``TRACKHOUSE_ANONYMOUS_RETENTION_DAYS`` / ``TRACKHOUSE_RETENTION_DAYS`` (0)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import structlog

from pipeline import metrics
from pipeline.privacy.erase import SqlRunner, count_then_delete

log = structlog.get_logger(__name__)
NEVER_LINKED = (
    "(project_id, visitor_id) NOT IN (SELECT project_id, visitor_id FROM {db}.identities)"
)
MAX_DAYS = 36_500
# One cutoff for every table a purge deletes from (funnel_steps must lose the events' rows).
CUTOFF = "fromUnixTimestamp64Milli({cutoff:Int64}, 'UTC')"


@dataclass(frozen=True, slots=True)
class Policy:
    anonymous_retention_days: int = 0
    retention_days: int = 0


def policies(ch: SqlRunner) -> dict[str, Policy]:
    """The policy each project set (projects without one are absent)."""
    _, rows = ch.query(
        "SELECT project_id, argMax(anonymous_retention_days, updated_at), "
        f"argMax(retention_days, updated_at) FROM {ch.database}.project_policies "
        "GROUP BY project_id"
    )
    return {project: Policy(int(anon), int(days)) for project, anon, days in rows}


def _cutoff_ms(days: int) -> int:
    return int(time.time() * 1000) - days * 86_400_000


def _project_filter(project_id: str | None) -> str:
    return "" if project_id is None else " AND project_id = {p:String}"


def purge_anonymous(
    ch: SqlRunner, older_than_days: int, project_id: str | None = None
) -> dict[str, int]:
    """Delete events and sessions older than the cutoff whose visitor is anonymous and was
    never identified (of one project, or of all); returns the row counts per table."""
    params = {"cutoff": _cutoff_ms(older_than_days), "p": project_id or ""}
    project = _project_filter(project_id)
    never_linked = NEVER_LINKED.format(db=ch.database) + project
    # funnels' copy of the events' step columns (schemas/clickhouse/021), on the ids' hashes
    count_then_delete(
        ch,
        "funnel_steps",
        f"timestamp < {CUTOFF} AND uh = cityHash64('') AND (project_id, vh) NOT IN "
        f"(SELECT project_id, cityHash64(visitor_id) FROM {ch.database}.identities){project}",
        params,
    )
    counts = {
        "events": count_then_delete(
            ch, "events", f"timestamp < {CUTOFF} AND user_id = '' AND " + never_linked, params
        ),
        "sessions": count_then_delete(
            ch, "sessions", f"end < {CUTOFF} AND user_id = '' AND " + never_linked, params
        ),
    }
    for table, count in counts.items():
        metrics.ANONYMOUS_PURGED.labels(table).inc(count)
    log.info("privacy.anonymous_purged", days=older_than_days, project_id=project_id, **counts)
    return counts


def purge_older(ch: SqlRunner, older_than_days: int, project_id: str) -> dict[str, int]:
    """Delete every event and session of the project older than the cutoff."""
    params = {"cutoff": _cutoff_ms(older_than_days), "p": project_id}
    cutoff = f"< {CUTOFF} AND project_id = {{p:String}}"
    count_then_delete(ch, "funnel_steps", "timestamp " + cutoff, params)  # funnels' copy
    counts = {
        "events": count_then_delete(ch, "events", "timestamp " + cutoff, params),
        "sessions": count_then_delete(ch, "sessions", "end " + cutoff, params),
    }
    for table, count in counts.items():
        metrics.RETENTION_PURGED.labels(table).inc(count)
    log.info("privacy.retention_purged", days=older_than_days, project_id=project_id, **counts)
    return counts


def apply_policies(ch: SqlRunner, default: Policy | None = None) -> dict[str, dict[str, int]]:
    """Purge what each project's policy (or ``default``) says; rows purged, by project."""
    default = default or Policy()
    own = policies(ch)
    _, rows = ch.query(f"SELECT DISTINCT project_id FROM {ch.database}.projects")
    purged: dict[str, dict[str, int]] = {}
    for project_id in sorted({row[0] for row in rows} | own.keys()):
        policy = own.get(project_id, default)
        counts = {"events": 0, "sessions": 0}
        if policy.retention_days > 0:
            for table, count in purge_older(ch, policy.retention_days, project_id).items():
                counts[table] += count
        if policy.anonymous_retention_days > 0:
            purge = purge_anonymous(ch, policy.anonymous_retention_days, project_id)
            for table, count in purge.items():
                counts[table] += count
        if policy.retention_days > 0 or policy.anonymous_retention_days > 0:
            purged[project_id] = counts
    return purged


class RetentionJob:
    """Runs ``apply_policies`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, ch: SqlRunner, default: Policy, interval: float) -> None:
        self.ch, self.default, self.interval = ch, default, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                apply_policies(self.ch, self.default)
            except Exception:
                log.exception("privacy.purge_failed")

    def stop(self) -> None:
        self._stop.set()
