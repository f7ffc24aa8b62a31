"""``GET /v1/stream``: newly stored events as Server-Sent Events (see docs/notifications.md).

One ``Feed`` per project polls ClickHouse every ``stream_poll_seconds`` while clients listen:
one query for all of them (each client's filters are a column of that query). The cursor is
``received_at`` (the edge's arrival time) plus the event id; each poll looks back
``LOOKBACK_MS`` for events stored out of arrival order and drops the ids it already sent."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from pipeline.edge.client import api_key
from pipeline.edge.context import Edge
from pipeline.edge.errors import ApiError
from pipeline.query import event_filters

log = structlog.get_logger(__name__)
LOOKBACK_MS = 3000  # events stored this long after a later-arrived one are still sent
HEARTBEAT_SECONDS = 15.0
DISCONNECT_CHECK_SECONDS = 1.0  # a client that hung up frees its place within this
QUEUE_EVENTS = 10_000  # a client further behind is disconnected (it resumes by its cursor)
POLL_ROWS = 5000
PLACEHOLDER = re.compile(r"\{(\w+):")


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000)
    return int(value)


def _received(event: dict[str, Any]) -> int:
    return _ms(datetime.fromisoformat(event["received_at"].replace("Z", "+00:00")))


def cursor_of(received_ms: int, event_id: str) -> str:
    return f"{received_ms}_{event_id}"


def parse_cursor(value: str) -> int:
    """The arrival time (epoch ms) of a ``Last-Event-ID``; 422 when it is not one of ours."""
    head, _, _event = value.partition("_")
    if not head.isdigit():
        raise ApiError(422, "invalid_field", "Last-Event-ID: a cursor from this stream", "cursor")
    return int(head)


def sse(cursor: str, data: dict[str, Any]) -> bytes:
    return b"id: %s\nevent: event\ndata: %s\n\n" % (cursor.encode(), orjson.dumps(data))


class Client:
    __slots__ = ("closed", "query", "queue")

    def __init__(self, query: event_filters.EventQuery) -> None:
        self.query = query
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_EVENTS)
        self.closed = False

    def offer(self, message: bytes) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:  # too slow: cut it off; it resumes from its cursor
            self.closed = True


def _renamed(query: event_filters.EventQuery, prefix: str) -> tuple[str, dict[str, Any]]:
    where = PLACEHOLDER.sub(lambda m: "{" + prefix + m.group(1) + ":", query.where)
    return where, {prefix + k: v for k, v in query.parameters.items()}


class Feed:
    """One project's poller; runs while it has clients."""

    def __init__(self, edge: Edge, project_id: str, poll_seconds: float) -> None:
        self.edge = edge
        self.project_id = project_id
        self.poll_seconds = poll_seconds
        self.clients: set[Client] = set()
        self.since_ms = 0
        self.sent: OrderedDict[str, int] = OrderedDict()  # event id -> received_at, recent
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def fetch(
        self, since_ms: int, clients: list[Client], after: tuple[int, str] | None = None
    ) -> list[tuple[dict, list[bool]]]:
        """Rows from ``since_ms`` on (past ``after``, a page's last row, when given), in arrival
        order, each with which clients it matches."""
        selects, parameters = [], {"tenant": self.project_id, "since": since_ms}
        page = ""
        if after is not None:
            page = (
                " AND (received_at > fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
                " OR (received_at = fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
                " AND toString(event_id) > {after_id:String}))"
            )
            parameters |= {"after_ms": after[0], "after_id": after[1]}
        for index, client in enumerate(clients):
            where, values = _renamed(client.query, f"c{index}_")
            selects.append(f", ({where}) AS __m{index}")
            parameters.update(values)
        sql = (
            f"SELECT *{''.join(selects)} FROM {self.edge.database}.events"
            " WHERE project_id = {tenant:String}"
            " AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
            f"{page} ORDER BY received_at, toString(event_id) LIMIT {POLL_ROWS}"
        )
        columns, rows = await self.edge.query(sql, parameters)
        width = len(columns) - len(clients)
        out = []
        for row in rows:
            event = event_filters.row_to_json(columns[:width], row[:width])
            out.append((event, [bool(m) for m in row[width:]]))
        return out

    async def run(self) -> None:
        self.since_ms = int(time.time() * 1000) - LOOKBACK_MS
        try:
            for event, _ in await self.fetch(self.since_ms, []):  # already stored: not news
                self._sent(event)
        except Exception as exc:
            log.warning("stream.poll_failed", project_id=self.project_id, error=str(exc))
        self.ready.set()
        after: tuple[int, str] | None = None  # a full page was read: the next one at once
        while self.clients:
            if after is None:
                await asyncio.sleep(self.poll_seconds)
            clients = [c for c in self.clients if not c.closed]
            if not clients:
                continue
            try:
                rows = await self.fetch(self.since_ms, clients, after)
            except Exception as exc:  # storage busy or down: try again next round
                log.warning("stream.poll_failed", project_id=self.project_id, error=str(exc))
                after = None
                continue
            after = None
            if len(rows) == POLL_ROWS:  # more than a page since the cursor: page through
                last = rows[-1][0]
                after = (_received(last), last["id"])
            for event, matches in rows:
                if event["id"] in self.sent:
                    continue
                received = self._sent(event)
                message = sse(cursor_of(received, event["id"]), event)
                for client, matched in zip(clients, matches, strict=True):
                    if matched:
                        client.offer(message)

    def _sent(self, event: dict[str, Any]) -> int:
        received = _received(event)
        self.sent[event["id"]] = received
        self.since_ms = max(self.since_ms, received - LOOKBACK_MS)
        while self.sent and next(iter(self.sent.values())) < self.since_ms:
            self.sent.popitem(last=False)
        return received


class Streams:
    """The feeds of every project with listeners, and the per-project cap."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.feeds: dict[str, Feed] = {}
        self.max_clients = edge.settings.stream_max_clients
        self.poll_seconds = edge.settings.stream_poll_seconds

    def join(self, project_id: str, client: Client) -> Feed:
        feed = self.feeds.get(project_id)
        if feed is not None and len(feed.clients) >= self.max_clients:
            raise ApiError(
                429, "too_many_streams",
                f"at most {self.max_clients} live streams per project"
                " (TRACKHOUSE_STREAM_MAX_CLIENTS)",
            )  # fmt: skip
        if feed is None:
            feed = self.feeds[project_id] = Feed(self.edge, project_id, self.poll_seconds)
        feed.clients.add(client)
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(feed.run())
        return feed

    def close_all(self) -> None:
        """The server stops: end every stream (clients reconnect with their cursor)."""
        for feed in self.feeds.values():
            for client in feed.clients:
                client.closed = True
                if client.queue.empty():
                    client.queue.put_nowait(b"")

    def leave(self, project_id: str, client: Client) -> None:
        feed = self.feeds.get(project_id)
        if feed is not None:
            feed.clients.discard(client)
            if not feed.clients:
                self.feeds.pop(project_id, None)


async def _catch_up(feed: Feed, client: Client, since_ms: int) -> AsyncIterator[bytes]:
    """Events from a resumed cursor's time (minus the look-back) up to the live feed."""
    await feed.ready.wait()
    after: tuple[int, str] | None = None
    sent: set[str] = set()  # (rows replayed after a crash are there twice until merged)
    while True:
        rows = await feed.fetch(since_ms - LOOKBACK_MS, [client], after)
        for event, [matched] in rows:
            if matched and event["id"] not in sent:
                sent.add(event["id"])
                yield sse(cursor_of(_received(event), event["id"]), event)
        if len(rows) < POLL_ROWS:
            return
        after = (_received(rows[-1][0]), rows[-1][0]["id"])


def install(app: FastAPI, edge: Edge) -> None:
    streams = Streams(edge)
    app.state.close_streams = streams.close_all  # the HTTP server calls it when it stops

    @app.get("/v1/stream", include_in_schema=False)
    async def stream(request: Request) -> StreamingResponse:
        """Newly stored events of the key's project (secret key: header, or ``?key=``)."""
        key = api_key(request.headers) or request.query_params.get("key")
        project_id = edge.authenticate_read(request, key)
        query = event_filters.build_query(project_id, request.query_params)
        last = request.headers.get("last-event-id") or request.query_params.get("cursor")
        resume_ms = parse_cursor(last) if last else None
        client = Client(query)
        feed = streams.join(project_id, client)

        async def messages() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n: connected\n\n"
                seen: set[str] = set()
                if resume_ms is not None:
                    async for message in _catch_up(feed, client, resume_ms):
                        seen.add(message.split(b"\n", 1)[0])
                        yield message
                quiet_since = time.monotonic()
                while not client.closed:
                    try:
                        message = await asyncio.wait_for(
                            client.queue.get(), DISCONNECT_CHECK_SECONDS
                        )
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                            quiet_since = time.monotonic()
                            yield b": heartbeat\n\n"
                        continue
                    quiet_since = time.monotonic()
                    if not message:  # the server stops
                        return
                    if seen and message.split(b"\n", 1)[0] in seen:
                        continue
                    yield message
            finally:
                streams.leave(project_id, client)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(messages(), media_type="text/event-stream", headers=headers)
