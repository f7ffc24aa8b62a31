"""The read routes' SQL: one page of events or sessions matching a query's filters, with the
users resolved retroactively (``events_resolved``'s rule) at the cost of the page only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pipeline.query.event_filters import EventQuery, total_from_page

Rows = tuple[list[str], list[tuple[Any, ...]]]
Run = Callable[[str, Mapping[str, Any] | None], Awaitable[Rows]]
EVENT_ORDER = "timestamp DESC, event_id"  # newest first; the id keeps pages stable


class Reads:
    """Pages of the stored rows; ``run`` executes a parameterised read (off the event loop)."""

    def __init__(self, run: Run, database: str) -> None:
        self.run = run
        self.database = database

    async def page(
        self, source: str, q: EventQuery, order: str
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        """Columns and rows of one page of ``source`` rows matching ``q``, and how many match
        in all (counted only when the page does not tell)."""
        columns, rows = await self.run(
            f"SELECT * FROM {source} WHERE {q.where} ORDER BY {order} "
            f"LIMIT {q.limit} OFFSET {q.offset}",
            q.parameters,
        )
        total = total_from_page(len(rows), q)
        if total is None:
            count_sql = f"SELECT count() FROM {source} WHERE {q.where}"
            total = (await self.run(count_sql, q.parameters))[1][0][0]
        return columns, rows, total

    async def events_page(
        self, project_id: str, q: EventQuery
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        """A page of the project's events with users resolved as ``events_resolved`` does.

        Unless the read filters by user (a ``user_id`` parameter, which needs the resolved
        column), the page is read from ``events`` and only its anonymous visitors are looked
        up: the view's join aggregates every identity on each read, ~3x the page's cost."""
        if "user_id" in q.parameters:
            return await self.page(f"{self.database}.events_resolved", q, EVENT_ORDER)
        page = await self.page(f"{self.database}.events FINAL", q, EVENT_ORDER)
        return await self._resolve_visitors(project_id, *page)

    async def sessions_page(
        self, project_id: str, q: EventQuery
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        """A page of the project's sessions (current rows), newest first, with users resolved
        by ``events_resolved``'s rule: a visitor's anonymous sessions (before signup) read as
        the user's, retroactively, without rewriting rows. A ``user_id`` filter reads through
        the join (restricted to the project); otherwise only the page's visitors are looked up."""
        order = "start DESC, session_id"
        if "user_id" in q.parameters:
            db = self.database
            # ({tenant:String}: the key's project, which build_query always binds)
            source = (
                "(SELECT s.* REPLACE (if(s.user_id != '' AND (s.user_id != s.visitor_id "
                "OR i.user_id = ''), s.user_id, i.user_id) AS user_id) "
                f"FROM {db}.sessions AS s FINAL LEFT JOIN ("
                "SELECT visitor_id, argMin(user_id, linked_at) AS user_id "
                f"FROM {db}.identities WHERE project_id = {{tenant:String}} GROUP BY visitor_id"
                ") AS i ON s.visitor_id = i.visitor_id WHERE s.project_id = {tenant:String})"
            )
            return await self.page(source, q, order)
        page = await self.page(f"{self.database}.sessions FINAL", q, order)
        return await self._resolve_visitors(project_id, *page)

    async def _resolve_visitors(
        self, project_id: str, columns: list[str], rows: list[tuple[Any, ...]], total: int
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        """Rows without a user take the user their visitor was first linked to."""
        if not rows:  # (an empty result names no columns)
            return columns, rows, total
        user, visitor = columns.index("user_id"), columns.index("visitor_id")
        # anonymous rows, and provisional ones (user id == visitor id: a merge may outrank it)
        anonymous = sorted({r[visitor] for r in rows if r[visitor] and r[user] in ("", r[visitor])})
        if not anonymous:
            return columns, rows, total
        _, links = await self.run(
            # events_resolved's rule: a visitor's events take the user it was first linked to
            "SELECT visitor_id, argMin(user_id, linked_at) "
            f"FROM {self.database}.identities "
            "WHERE project_id = {p:String} AND visitor_id IN {v:Array(String)} "
            "GROUP BY visitor_id",
            {"p": project_id, "v": anonymous},
        )
        users = dict(links)
        resolved = [
            (*row[:user], users[row[visitor]], *row[user + 1 :])
            if row[user] in ("", row[visitor]) and row[visitor] in users
            else row
            for row in rows
        ]
        return columns, resolved, total
