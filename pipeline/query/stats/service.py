"""The stats API's entry points for the edge: which project a ``site_id`` names, a query's
answer, current visitors. Synchronous (the edge runs them off its event loop)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from pipeline.query.stats import sources
from pipeline.query.stats.engine import Engine, Site
from pipeline.query.stats.request import StatsQuery
from pipeline.registry.goals import GoalRegistry
from pipeline.registry.timezones import get_timezone
from pipeline.registry.websites import WebsiteRegistry

REALTIME_MINUTES = 5


def _host(domain: str) -> str:
    text = domain.strip().lower()
    host = urlsplit(text if "//" in text else "//" + text).hostname or ""
    return host[4:] if host.startswith("www.") else host


class StatsService:
    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse
        self.goals = GoalRegistry(clickhouse)
        self.websites = WebsiteRegistry(clickhouse)
        self._sources_ready = False
        self._lock = threading.Lock()

    def site_matches(self, project_id: str, site_id: str) -> bool:
        """Whether ``site_id`` names the project: its id, or one of its websites' domain or
        tracking code."""
        if site_id == project_id:
            return True
        wanted = _host(site_id)
        return any(
            site_id == w.tracking_code or (wanted and _host(w.domain) == wanted)
            for w in self.websites.of_project(project_id)
        )

    def _ensure_sources(self) -> None:
        with self._lock:
            if not self._sources_ready:
                sources.ensure_table(self.clickhouse)
                self._sources_ready = True

    def _first_seen(self, project_id: str) -> Any:
        _, rows = self.clickhouse.query(
            f"SELECT toDate(min(timestamp)), count() > 0 FROM {self.clickhouse.database}.events "
            "WHERE project_id = {p:String}",
            {"p": project_id},
        )
        return rows[0][0] if rows and rows[0][1] else None

    def query(self, project_id: str, q: StatsQuery) -> dict[str, Any]:
        self._ensure_sources()
        timezone = get_timezone(self.clickhouse, project_id)
        site = Site(
            project_id=project_id,
            site_id=q.site_id,
            timezone=timezone,
            goals=self.goals.list(project_id),
            first_seen=self._first_seen(project_id) if q.date_range == "all" else None,
            database=self.clickhouse.database,
        )

        def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
            columns, rows = self.clickhouse.query(sql, params)
            return list(columns), rows

        return Engine(site, run).answer(q)

    def realtime_visitors(self, project_id: str) -> int:
        """Visitors with an event in the last 5 minutes (bots left out)."""
        _, rows = self.clickhouse.query(
            f"SELECT uniqExact(visitor_id) FROM {self.clickhouse.database}.events FINAL "
            "WHERE project_id = {p:String} AND timestamp >= now64(3) - INTERVAL "
            f"{REALTIME_MINUTES} MINUTE AND NOT is_bot AND type != 'identify'",
            {"p": project_id},
        )
        return int(rows[0][0]) if rows else 0
