"""Live SQL for analysts: ClickHouse's HTTP interface, read-only, mounted at ``/clickhouse``
while the pipeline runs (clickhouse-connect with ``proxy_path="/clickhouse"``, curl, DBeaver and
Grafana's ClickHouse plugin speak it).

``GET`` and ``POST`` with ``?query=`` and/or the query in the body, ``database``,
``default_format`` or a ``FORMAT`` clause, ``param_<name>`` for ``{name:Type}`` placeholders,
compressed bodies and answers. The analyst token (``TRACKHOUSE_ANALYST_TOKEN``) is the password;
without one the endpoint is off (404). Statements are checked (``sql_guard``) and then run with
``readonly = 1`` and the live-SQL limits — in the storage process (embedded) or on the worker's
ClickHouse (Kafka) — so an analyst can neither write nor stall ingest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pipeline.query import clickhouse_http as wire
from pipeline.query.sql_guard import Refusal, check
from pipeline.runtime.owner import OwnerError, OwnerTimeoutError
from pipeline.settings import Settings
from pipeline.sink.raw_sql import RawAnswer

log = structlog.get_logger(__name__)
PREFIX = "/clickhouse"
Runner = Callable[[str, str, dict[str, str], str], RawAnswer]
# Query-string parameters of the HTTP interface that are not settings (or are settings an HTTP
# client sets for its transport): accepted, and ignored unless used below.
TRANSPORT = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "user",
        "password",
        "quota_key",
        "session_id",
        "session_timeout",
        "session_check",
        "enable_http_compression",
        "http_zlib_compression_level",
        "wait_end_of_query",
        "buffer_size",
        "client_protocol_version",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "add_http_cors_header",
    }
)
OFF = (
    "Live SQL is off: set TRACKHOUSE_ANALYST_TOKEN (the analyst token) to serve ClickHouse's "
    "HTTP interface at /clickhouse/\n"
)


def create(settings: Settings, runner: Runner | None, timezone: str = "UTC") -> Starlette:
    """The ASGI app to mount at ``PREFIX``; ``runner`` runs a checked query (None: not here)."""
    token = settings.analyst_token.get_secret_value()
    database = settings.clickhouse_database

    async def interface(request: Request) -> Response:
        if not token or runner is None:
            return PlainTextResponse(OFF, status_code=404)
        params = dict(request.query_params)
        query_id = params.get("query_id") or str(uuid.uuid4())
        started = time.perf_counter()
        try:
            wire.authenticate(token, request.headers, params)
            sql = await _query_text(request, params)
            if not sql.strip() and request.method == "GET":
                return PlainTextResponse("Ok.\n")  # as ClickHouse answers a bare GET /
            bound = _bound_parameters(params)
            fmt = check(sql) or params.get("default_format") or "TabSeparated"
            answer = await run_in_threadpool(runner, sql, fmt, bound, params.get("database") or "")
        except wire.HttpRefusal as refusal:
            return _error(refusal.status, refusal.code, refusal.name, refusal.message, query_id)
        except Refusal as refusal:
            status = wire.status_of(refusal.code)
            return _error(status, refusal.code, refusal.name, refusal.message, query_id)
        except OwnerTimeoutError:
            message = "Too many simultaneous queries: live SQL runs one query at a time; retry"
            return _error(503, 202, "TOO_MANY_SIMULTANEOUS_QUERIES", message, query_id)
        except OwnerError as exc:
            return _error(503, 210, "NETWORK_ERROR", f"storage unavailable: {exc}", query_id)
        log.info(
            "live_sql.query",
            query_id=query_id,
            format=fmt,
            database=params.get("database") or database,
            error_code=answer.error_code or None,
            seconds=round(time.perf_counter() - started, 4),
            bytes=len(answer.data),
        )
        if answer.error_code:
            status = wire.status_of(answer.error_code)
            return _error(status, answer.error_code, "", answer.error, query_id)
        enabled = params.get("enable_http_compression", "1") != "0"
        encoding = wire.response_encoding(request.headers.get("accept-encoding", ""), enabled)
        headers = wire.answer_headers(answer, fmt, query_id, timezone, encoding)
        return Response(wire.compress(answer.data, encoding), headers=headers)

    async def ping(_request: Request) -> Response:
        return PlainTextResponse("Ok.\n", status_code=200 if token else 404)

    return Starlette(
        routes=[
            Route("/", interface, methods=["GET", "POST"]),
            Route("/ping", ping, methods=["GET"]),
        ]
    )


async def _query_text(request: Request, params: dict[str, str]) -> str:
    """``?query=`` followed by the body (POST), as ClickHouse joins them."""
    text = params.get("query", "")
    if request.method == "POST":
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            raise wire.HttpRefusal(
                400,
                36,
                "BAD_ARGUMENTS",
                "form-encoded queries and external data are not supported: send the query "
                "in the body or in ?query=",
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > wire.MAX_QUERY_BYTES:
                raise wire.too_large()
        data = wire.decode_body(bytes(body), request.headers.get("content-encoding", ""))
        if data:
            body_text = data.decode("utf-8", "replace")
            text = f"{text}\n{body_text}" if text else body_text
    return text


def _bound_parameters(params: dict[str, str]) -> dict[str, str]:
    """``param_<name>`` values; any other query-string key is a setting live SQL refuses
    (settings cannot change in readonly mode: ClickHouse's own answer)."""
    bound: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("param_"):
            bound[key[len("param_") :]] = value
        elif key == "readonly":
            if value not in ("1", "2"):
                raise Refusal(164, "READONLY", "Cannot modify 'readonly' setting in readonly mode")
        elif key in ("compress", "decompress"):
            if value not in ("", "0"):
                raise Refusal(
                    36,
                    "BAD_ARGUMENTS",
                    f"{key}=1 (ClickHouse's internal compression) is not supported: use "
                    "enable_http_compression=1 with Accept-Encoding, or Content-Encoding",
                )
        elif key not in TRANSPORT:
            raise Refusal(
                164, "READONLY", f"Cannot modify '{key}' setting in readonly mode (live SQL)"
            )
    return bound


def _error(status: int, code: int, name: str, message: str, query_id: str) -> Response:
    return Response(
        wire.error_body(code, name, message),
        status_code=status,
        media_type="text/plain; charset=UTF-8",
        headers={
            "X-ClickHouse-Exception-Code": str(code),
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Format": "TabSeparated",
        },
    )


ANNOUNCEMENT = "live-sql.json"


def announce(settings: Settings) -> None:
    """Write where this server's live SQL answers into the data dir: ``trackhouse sql`` finds
    it there while the server holds the data dir's lock."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{host}:{settings.port}{PREFIX}"
    path = settings.data_dir / ANNOUNCEMENT
    path.write_bytes(orjson.dumps({"url": url, "database": settings.clickhouse_database}))


def withdraw(settings: Settings) -> None:
    (settings.data_dir / ANNOUNCEMENT).unlink(missing_ok=True)


def announced(data_dir: Path) -> dict[str, str] | None:
    """The running server's live SQL ``{url, database}``, or None."""
    try:
        return orjson.loads((data_dir / ANNOUNCEMENT).read_bytes())
    except (OSError, ValueError):
        return None
