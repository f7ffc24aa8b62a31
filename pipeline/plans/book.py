"""The pipeline's compiled plans, reloaded on change.

``PlanBook.plans`` maps a project to its ``CompiledPlan``; a project without a plan is one
failed dict lookup per event. ``refresh`` (called by the drivers once per batch) reads the
versions in force at most every ``every`` seconds and compiles only the plans that changed.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from pipeline.plans import store
from pipeline.stages.validate import CompiledPlan, compile_plan

log = structlog.get_logger(__name__)


class PlanBook:
    def __init__(self, clickhouse: Any = None, every: float = 5.0) -> None:
        self.clickhouse = clickhouse
        self.every = every
        self.plans: dict[str, CompiledPlan] = {}
        self.checked_at = float("-inf")

    @property
    def due(self) -> bool:
        """Whether ``refresh`` would read ClickHouse now."""
        return self.clickhouse is not None and time.monotonic() - self.checked_at >= self.every

    def refresh(self, force: bool = False) -> None:
        """Reload changed plans when the last check is ``every`` seconds old (a failed read
        keeps the plans in force, and is tried again at the next check)."""
        if self.clickhouse is None:
            return
        now = time.monotonic()
        if not force and now - self.checked_at < self.every:
            return
        self.checked_at = now
        try:
            self._reload()
        except Exception:
            log.exception("plans.reload_failed")

    def _reload(self) -> None:
        versions = store.latest_versions(self.clickhouse)
        plans = {p: c for p, c in self.plans.items() if versions.get(p) == c.version}
        for project, version in versions.items():
            if project in plans:
                continue
            try:  # one unreadable plan keeps its project's previous one, not every project's
                plan = store.load_plan(self.clickhouse, project, version)
                if plan is not None:
                    plans[project] = compile_plan(plan)
                    log.info("plans.loaded", project_id=project, version=version, mode=plan.mode)
            except Exception:
                log.exception("plans.load_failed", project_id=project, version=version)
                if project in self.plans:
                    plans[project] = self.plans[project]
        self.plans = plans  # swapped at once: a reader sees the old dict or the new one
