"""The clickhouse-connect client (server URL or in-process chDB), migrations and inserts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any

import clickhouse_connect
import structlog
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext
from tenacity import retry, stop_after_attempt, wait_exponential_jitter

from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
LOW_CARDINALITY_AS = {"LowCardinality(String)": "String"}
# Replacing/collapsing tables are read with FINAL (or collapse in merges), so an insert need not
# collapse its own block first: that pass costs ~1.7 µs of the ~10 µs an event row costs in chDB.
INSERT_SETTINGS = {"optimize_on_insert": 0}


def ddl_statements(database: str) -> list[tuple[str, str]]:
    """``(file name, statement)`` for every DDL statement in ``schemas/clickhouse``, in order."""
    files = sorted(
        (
            f
            for f in resources.files("schemas").joinpath("clickhouse").iterdir()
            if f.name.endswith(".sql")
        ),
        key=lambda f: f.name,
    )
    out: list[tuple[str, str]] = []
    for file in files:
        text = file.read_text().replace("{db}", database)
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        out.extend((file.name, stmt.strip()) for stmt in body.split(";") if stmt.strip())
    return out


class ClickHouse:
    """One client shared by the process (chDB allows one engine per path and process).

    Calls are serialised by a lock: clickhouse-connect's chDB backend is synchronous.
    """

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn = dsn
        self.database = database
        self._lock = threading.Lock()
        self._client: Client = clickhouse_connect.get_client(dsn=dsn)
        self._insert_contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    def migrate(self) -> int:
        """Apply the DDL idempotently; returns how many statements ran."""
        statements = ddl_statements(self.database)
        with self._lock:
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            for _, statement in statements:
                self._client.command(statement)
        log.info("clickhouse.migrated", statements=len(statements), database=self.database)
        return len(statements)

    @retry(
        wait=wait_exponential_jitter(multiplier=0.2, max=10),
        stop=stop_after_attempt(8),
        reraise=True,
    )
    def insert(self, block: Block) -> None:
        """Insert one column-oriented block (retried with backoff on failure)."""
        if not block.row_count:
            return
        with self._lock:
            key = (block.table, block.column_names)
            context = self._insert_contexts.get(key)
            if context is None:  # looks the column types up once, not on every insert
                context = self._insert_context(block)
                self._insert_contexts[key] = context
            context.data = block.columns
            self._client.insert(context=context)

    def _insert_context(self, block: Block) -> InsertContext:
        """LowCardinality(String) columns are sent as plain String: ClickHouse converts them
        on insert, and clickhouse-connect need not build their dictionaries in Python."""
        table = f"{self.database}.{block.table}"
        described = dict(
            row[:2] for row in self._client.query(f"DESCRIBE TABLE {table}").result_rows
        )
        types = [
            get_from_name(LOW_CARDINALITY_AS.get(described[name], described[name]))
            for name in block.column_names
        ]
        return self._client.create_insert_context(
            table,
            column_names=list(block.column_names),
            column_types=types,
            column_oriented=True,
            settings=INSERT_SETTINGS,
        )

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        """Run a SELECT; returns column names and rows."""
        with self._lock:
            result = self._client.query(sql, parameters=parameters or {})
        return result.column_names, result.result_rows

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.command(sql, parameters=parameters or {})

    def close(self) -> None:
        with self._lock:
            self._client.close()
