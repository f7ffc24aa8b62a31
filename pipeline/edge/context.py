"""What every HTTP handler of the edge shares — the native API and each dialect adapter
(``pipeline/edge/dialects``): authentication, rate limiting, bounded body reads, the request's
own facts (user agent, client IP), accepting events into the pipeline, and reads from ClickHouse.

A dialect maps its request onto ``NativeEvent``s and calls ``accept``: the same validation rules,
normalization, publisher and stages as the native API — no second pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from pipeline import metrics
from pipeline.edge import browser
from pipeline.edge.client import api_key, client_ip, parse_networks
from pipeline.edge.errors import ApiError, payload_too_large, rate_limited
from pipeline.edge.ingest import Limits
from pipeline.edge.publisher import Publisher, PublishUnavailableError
from pipeline.edge.query import EventQuery, total_from_page
from pipeline.edge.ratelimit import TokenBuckets
from pipeline.registry.projects import Principal, ProjectRegistry
from pipeline.settings import Settings
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.normalize import RequestInfo, normalize
from schemas.events import NativeEvent
from schemas.records import RawEvent


@dataclass
class EdgeServices:
    settings: Settings
    registry: ProjectRegistry
    publisher: Publisher
    clickhouse: ClickHouse
    metrics_text: Callable[[], bytes] = metrics.local_text
    # live SQL's runner (sql, format, parameters, database) -> RawAnswer; None: not served here
    live_sql: Callable[..., Any] | None = None


UNAUTHORIZED = "missing or unknown API key (X-API-Key)"
# The API key the current request authenticated with (each request runs in its own task, so
# its own context): the rate limit's bucket.
_request_key: ContextVar[str] = ContextVar("trackhouse_request_key", default="")
EVENT_ORDER = "timestamp DESC, event_id"  # newest first; the id keeps pages stable


class Edge:
    """The edge's shared services for request handlers (one per app)."""

    def __init__(self, services: EdgeServices) -> None:
        settings = services.settings
        self.services = services
        self.settings = settings
        self.limits = Limits(
            settings.max_event_bytes, settings.max_batch_bytes, settings.max_batch_events
        )
        self._trusted = parse_networks(settings.trusted_proxies)
        self._buckets = TokenBuckets(
            settings.rate_limit_events_per_second, settings.rate_limit_burst_events
        )
        self._future_ms = settings.future_tolerance_seconds * 1000
        services.registry.start_refreshing()

    # --- who is asking -------------------------------------------------------------------------

    def principal(self, key: str | None, message: str = UNAUTHORIZED) -> Principal:
        """The key's principal, or 401 ``unauthorized`` (``message`` names where the key goes)."""
        principal = self.services.registry.authenticate(key)
        if principal is None:
            raise ApiError(401, "unauthorized", message)
        _request_key.set(key or "")
        return principal

    def authenticate(self, request: Request, key: str | None = None, beacon: bool = False) -> str:
        """The project a write goes to: ``key`` when the caller found one (a dialect's body or
        Basic auth), else ``X-API-Key``/Bearer; a beacon may carry it in ``?key=``."""
        key = key or api_key(request.headers)
        if key is None and beacon:
            key = browser.beacon_key(request.query_params)
        return self.principal(key).project_id

    def authenticate_read(self, request: Request, key: str | None = None) -> str:
        """The project a read may see: only a secret key reads (write keys are public)."""
        principal = self.principal(key or api_key(request.headers))
        if not principal.can_read:
            raise ApiError(
                403, "forbidden", "a write key can only send events; read with the secret key"
            )
        return principal.project_id

    def _bucket(self, project_id: str) -> str:
        """The request's API key; a request without one (a tracking code) uses its project's."""
        return _request_key.get() or f"project:{project_id}"

    def request_info(self, request: Request, project_id: str) -> RequestInfo:
        peer = request.client.host if request.client else None
        return RequestInfo(
            project_id=project_id,
            received_at=int(time.time() * 1000),
            user_agent=request.headers.get("user-agent", ""),
            client_ip=client_ip(peer, request.headers.get("x-forwarded-for"), self._trusted),
        )

    # --- bodies --------------------------------------------------------------------------------

    async def read_body(self, request: Request, limit: int, what: str) -> bytes:
        """The request body (gunzipped when sent gzip), refused with 413 past ``limit`` bytes."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise payload_too_large(limit, what)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise payload_too_large(limit, what)
            chunks.append(chunk)
        return browser.decode_body(request.headers, b"".join(chunks), limit, what)

    # --- into the pipeline ---------------------------------------------------------------------

    def normalized(self, events: list[NativeEvent], info: RequestInfo) -> list[RawEvent]:
        return [normalize(e, info, self._future_ms) for e in events]

    async def accept(self, events: list[NativeEvent], info: RequestInfo) -> list[RawEvent]:
        """Normalize and publish; returns the raw records (ids, timestamps) once they are
        durable (spool fsync / Kafka acks). Raises ``PublishUnavailableError`` (503).

        The events (all valid) are charged to the request key's rate limit first: 429
        ``rate_limited`` with Retry-After when it is spent. Refused events cost nothing, so
        one key's junk cannot starve another key of the same project."""
        if not events:
            return []
        bucket = self._bucket(info.project_id)
        wait = self._buckets.take(bucket, len(events))
        if wait:
            raise rate_limited(wait)
        records = self.normalized(events, info)
        try:
            await self.services.publisher.publish(records)
        except PublishUnavailableError:  # not accepted: not charged
            self._buckets.give_back(bucket, len(events))
            raise
        metrics.EVENTS_ACCEPTED.inc(len(records))
        return records

    @staticmethod
    def count_rejected(error: str, count: int = 1) -> None:
        """Rejected items that do not end the request (one bad event in a batch)."""
        metrics.EVENTS_REJECTED.labels(error).inc(count)

    @classmethod
    def batch_answer(
        cls, accepted: int, total: int, errors: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], int]:
        """The native batch answer ``{accepted, total, errors}`` and its status: ``202`` when
        any event was accepted, else the lowest status of the errors (each carries ``status``,
        left out of the body). Counts the rejected events."""
        for error in errors:
            cls.count_rejected(error["error"])
        status = 202 if accepted else min(e["status"] for e in errors)
        body = {
            "accepted": accepted,
            "total": total,
            "errors": [{k: v for k, v in e.items() if k != "status"} for e in errors],
        }
        return body, status

    # --- reads ---------------------------------------------------------------------------------

    @property
    def database(self) -> str:
        return self.services.clickhouse.database

    async def query(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Columns and rows of a read (off the event loop)."""
        return await run_in_threadpool(self.services.clickhouse.query, sql, dict(parameters or {}))

    async def page(
        self, source: str, q: EventQuery, order: str
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        """Columns and rows of one page of ``source`` rows matching ``q``, and how many match
        in all (counted only when the page does not tell)."""
        columns, rows = await self.query(
            f"SELECT * FROM {source} WHERE {q.where} ORDER BY {order} "
            f"LIMIT {q.limit} OFFSET {q.offset}",
            q.parameters,
        )
        total = total_from_page(len(rows), q)
        if total is None:
            count_sql = f"SELECT count() FROM {source} WHERE {q.where}"
            total = (await self.query(count_sql, q.parameters))[1][0][0]
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
        _, links = await self.query(
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
