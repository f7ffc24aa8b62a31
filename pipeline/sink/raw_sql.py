"""Run an analyst's SQL as ClickHouse's HTTP interface would: the answer's bytes in a format,
read-only, bounded in time and size (live SQL, ``pipeline.query.live_sql``).

With chDB (embedded, or a Kafka worker's own engine) the query runs on a connection handle of
its own on which ``readonly = 1`` is set after the limits, so the engine itself refuses writes,
settings changes (limits included) and table functions, whatever the parser upstream let through.
With a ClickHouse server the same settings go with every query.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog

from pipeline.settings import Settings
from pipeline.sink.clickhouse import READ_SETTINGS

log = structlog.get_logger(__name__)
_CODE = re.compile(r"Code: (\d+)\.")
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*;?\s*$", re.IGNORECASE)
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)(?: \(version [^)]*\))?\.?\s*$")


@dataclass(frozen=True)
class RawLimits:
    """Bounds on one analyst query (so it cannot stall ingest or fill memory)."""

    max_execution_seconds: float = 10.0
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 100_000_000
    max_threads: int = 1
    max_memory_bytes: int = 1_000_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RawLimits:
        return cls(
            settings.live_sql_max_execution_seconds,
            settings.live_sql_max_result_rows,
            settings.live_sql_max_result_bytes,
            settings.live_sql_max_threads,
            settings.live_sql_max_memory_bytes,
        )

    def settings(self) -> dict[str, Any]:
        """The engine settings that enforce these bounds, ``readonly = 1`` last; and the reads'
        FINAL shortcut the API uses too (``sink.clickhouse.READ_SETTINGS``)."""
        return {
            **READ_SETTINGS,
            "max_execution_time": self.max_execution_seconds,
            "timeout_overflow_mode": "throw",
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_threads": self.max_threads,
            "max_memory_usage": self.max_memory_bytes,
            # the query's threads run at the lowest CPU priority (nice 19): ingest comes first
            "os_thread_priority": 19,
            "readonly": 1,
        }


@dataclass(frozen=True)
class RawAnswer:
    """One query's answer: ``data`` in the asked format, or ``error_code`` and ``error`` (a
    ClickHouse exception text) when the engine refused or failed it."""

    data: bytes = b""
    read_rows: int = 0
    read_bytes: int = 0
    elapsed_ns: int = 0
    error_code: int = 0
    error: str = ""


def engine_error(message: str) -> RawAnswer:
    """A ClickHouse exception text as an answer (``Code: N. DB::Exception: ...``)."""
    found = _CODE.search(message)
    start = message.find("Code: ")
    text = message[start:] if start >= 0 else message
    return RawAnswer(error_code=int(found.group(1)) if found else 1002, error=text.strip())


def error_name(message: str) -> str:
    """The error's name as ClickHouse writes it at the end, e.g. ``READONLY``."""
    found = _NAME.search(message)
    return found.group(1) if found else ""


class RawSql:
    """Read-only raw queries on the configured ClickHouse (one at a time per instance)."""

    def __init__(self, dsn: str, database: str, limits: RawLimits) -> None:
        self.database = database
        self.limits = limits
        self._lock = threading.Lock()
        self._current = ""
        if dsn.startswith("chdb://"):
            import chdb

            self._chdb = chdb.connect(_chdb_path(dsn))
            for name, value in limits.settings().items():
                self._chdb.query(f"SET {name} = {_literal(value)}")
            self._client = None
        else:
            import clickhouse_connect

            self._chdb = None
            self._client = clickhouse_connect.get_client(dsn=dsn, database=database)
        self.timezone = self._timezone()

    def _timezone(self) -> str:
        answer = self.run("SELECT timezone()", "TabSeparated", {}, self.database)
        return answer.data.decode().strip() or "UTC"

    def run(self, sql: str, fmt: str, params: dict[str, str], database: str) -> RawAnswer:
        """``sql`` (one statement, checked upstream) in ``fmt`` unless it names its own
        FORMAT; ``params`` bind its ``{name:Type}`` placeholders (text values)."""
        started = time.perf_counter_ns()
        with self._lock:
            try:
                if self._chdb is not None:
                    return self._run_chdb(sql, fmt, params, database or self.database, started)
                return self._run_server(sql, fmt, params, database or self.database, started)
            except Exception as exc:  # the engine's refusal or failure: the analyst's to read
                log.info("live_sql.refused_by_engine", error=str(exc)[:300])
                return engine_error(str(exc))

    def _run_chdb(
        self, sql: str, fmt: str, params: dict[str, str], database: str, started: int
    ) -> RawAnswer:
        assert self._chdb is not None
        if database != self._current:
            self._chdb.query(f"USE {_identifier(database)}")
            self._current = database
        result = self._chdb.query(sql, fmt, params=params or None)
        return RawAnswer(
            data=result.bytes(),
            read_rows=int(result.rows_read()),
            read_bytes=int(result.bytes_read()),
            elapsed_ns=time.perf_counter_ns() - started,
        )

    def _run_server(
        self, sql: str, fmt: str, params: dict[str, str], database: str, started: int
    ) -> RawAnswer:
        assert self._client is not None
        self._client.database = database
        data = self._client.raw_query(
            _TRAILING_FORMAT.sub("", sql),  # the client appends FORMAT ``fmt``
            parameters=params or None,
            settings=self.limits.settings(),
            fmt=fmt,
        )
        return RawAnswer(data=data, elapsed_ns=time.perf_counter_ns() - started)

    def close(self) -> None:
        with self._lock:
            if self._chdb is not None:
                self._chdb.close()
            if self._client is not None:
                self._client.close()


def _chdb_path(dsn: str) -> str:
    import os

    return os.path.realpath(dsn[len("chdb://") :])


def _literal(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
