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
from pipeline.edge.ratelimit import TokenBuckets
from pipeline.query.reads import Reads
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
    # reads that scan many rows (stats, dashboard, funnels, retention, revenue); None: the same
    # as ``clickhouse`` (embedded: lanes of their own, pipeline/runtime/read_lanes.py)
    aggregates: ClickHouse | None = None

    @property
    def aggregate_reads(self) -> ClickHouse:
        return self.clickhouse if self.aggregates is None else self.aggregates


UNAUTHORIZED = "missing or unknown API key (X-API-Key)"
# The reads a read-only share token may POST (their bodies are queries); it may GET any read.
READ_ONLY_POSTS = frozenset({"/api/v2/query", "/v1/funnels"})
READ_ONLY = "a read-only share token can only read; use the secret key"
# The API key the current request authenticated with (each request runs in its own task, so
# its own context): the rate limit's bucket.
_request_key: ContextVar[str] = ContextVar("trackhouse_request_key", default="")


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
        self.reads = Reads(self.query, services.clickhouse.database)
        services.registry.start_refreshing()

    # --- who is asking -------------------------------------------------------------------------

    def principal(
        self, key: str | None, message: str = UNAUTHORIZED, read: bool = False
    ) -> Principal:
        """The key's principal, or 401 ``unauthorized`` (``message`` names where the key goes);
        a read-only share token only where ``read`` (403 elsewhere: it never writes)."""
        principal = self.services.registry.authenticate(key)
        if principal is None:
            raise ApiError(401, "unauthorized", message)
        if principal.read_only and not read:
            raise ApiError(403, "forbidden", READ_ONLY)
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
        """The project a read may see: only a secret key reads (write keys are public); a
        read-only share token GETs, or POSTs a query (changes need the secret key)."""
        principal = self.principal(key or api_key(request.headers), read=True)
        reading = request.method in ("GET", "HEAD") or request.url.path in READ_ONLY_POSTS
        if principal.read_only and not reading:
            raise ApiError(403, "forbidden", READ_ONLY)
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
        """Columns and rows of a light read (off the event loop)."""
        return await run_in_threadpool(self.services.clickhouse.query, sql, dict(parameters or {}))

    async def aggregate(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Columns and rows of a read that scans many rows (off the event loop; embedded: on
        the storage process's lowest-priority lanes, so ingest comes first)."""
        reads = self.services.aggregate_reads
        return await run_in_threadpool(reads.query, sql, dict(parameters or {}))
