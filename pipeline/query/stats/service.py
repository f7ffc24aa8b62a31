"""The stats API's entry points for the edge: which project a ``site_id`` names, a query's
answer, current visitors. Synchronous (the edge runs them off its event loop)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from pipeline.query.stats import sources
from pipeline.query.stats.engine import Engine, Site
from pipeline.query.stats.request import QueryError, StatsQuery, show
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

    def _check_patterns(self, filters: tuple[Any, ...]) -> None:
        """``matches`` patterns are RE2's: ClickHouse compiles each once, up front (on rows
        alone it would fail or not depending on the data)."""
        for pattern in _patterns(filters):
            try:
                self.clickhouse.query("SELECT match('', {p:String})", {"p": pattern})
            except Exception as exc:  # DatabaseError, or the owner's error in embedded mode
                if "CANNOT_COMPILE_REGEXP" not in str(exc):
                    raise
                raise QueryError(
                    f"Invalid filter: RE2 cannot compile the regular expression {show(pattern)}"
                ) from None

    def query(self, project_id: str, q: StatsQuery) -> dict[str, Any]:
        self._check_patterns(q.filters)
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


def _patterns(filters: Any) -> list[str]:
    out: list[str] = []
    for node in filters:
        if node[0] in ("and", "or"):
            out += _patterns(node[1])
        elif node[0] in ("not", "has_done", "has_not_done"):
            out += _patterns([node[1]])
        elif node[0] in ("matches", "matches_not"):
            out += [str(c) for c in node[2]]
    return out
