"""The clickhouse-connect client (server URL or in-process chDB), migrations and inserts."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any

import clickhouse_connect
import msgspec
import structlog
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext

from pipeline import retries
from pipeline.sink.rows import InsertBlock, RecordBlock

log = structlog.get_logger(__name__)
LOW_CARDINALITY_AS = {"LowCardinality(String)": "String"}
# Replacing/collapsing tables are read with FINAL (or collapse in merges), so an insert need not
# collapse its own block first: that pass costs ~1.7 µs of the ~10 µs an event row costs in chDB.
INSERT_SETTINGS = {"optimize_on_insert": 0}
# Records read back from a JSON lines file: dict fields are JSON text columns, floats exact.
FILE_INSERT_SETTINGS = {
    **INSERT_SETTINGS,
    "input_format_json_read_objects_as_strings": 1,
    "precise_float_parsing": 1,
}
# Column types a JSON value fills as it is; epoch-ms times are read as Int64 and converted.
JSON_READY_TYPES = frozenset(
    {"String", "UUID", "Bool", "Float64", "Nullable(Float64)", "Nullable(String)"}
    | {f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)}
)
EPOCH_MS_TYPE = "DateTime64(3, 'UTC')"
# Reads: a FINAL read need not merge rows across partitions, since only ``events`` is
# partitioned (by the month of ``timestamp``) and a duplicate has the original's timestamp.
# A probe-sized FINAL read of recent events over 1.2M rows: 118 ms without, 33 ms with.
# Projections a data dir from before their DDL file gets for its older parts (migrate).
PROJECTIONS = tuple(
    ("events", name)
    for name in (
        "page_event_visitors",
        "page_event_visitors_daily",
        "visitors_daily",
        "person_days",
    )
)
# Tables fed by a materialized view (table, its view): ``migrate`` fills one it creates from the
# view's own SELECT over what is already stored (schemas/clickhouse/021).
FED_TABLES = (("funnel_steps", "funnel_steps_mv"),)
READ_SETTINGS = {"do_not_merge_across_partitions_select_final": 1}
_lines_encoder = msgspec.json.Encoder()


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def file_insert_statement(table: str, described: dict[str, str], columns: Sequence[str]) -> str:
    """``INSERT ... SELECT ... FROM file({path}, JSONEachRow)`` for records with these fields,
    or ``""`` when a column's type cannot be read from JSON as it is (then insert columns)."""
    structure, select = [], []
    for name in columns:
        column_type = LOW_CARDINALITY_AS.get(described[name], described[name])
        if column_type == EPOCH_MS_TYPE:
            structure.append(f"`{name}` Int64")
            select.append(f"fromUnixTimestamp64Milli(`{name}`, 'UTC')")
        elif column_type in JSON_READY_TYPES:
            structure.append(f"`{name}` {column_type}")
            select.append(f"`{name}`")
        else:
            return ""
    settings = ", ".join(f"{key} = {value}" for key, value in FILE_INSERT_SETTINGS.items())
    names = ", ".join(f"`{name}`" for name in columns)
    return (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(select)} "
        f"FROM file({{path}}, 'JSONEachRow', {_sql_string(', '.join(structure))}) "
        f"SETTINGS {settings}"
    )


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

    Writes (inserts, DDL, commands) and reads (``query``) go through two clients, each
    serialised by its own lock (clickhouse-connect's chDB backend is synchronous; chDB allows
    several connections to its one engine), so an insert never waits for a dashboard's query.
    In-process (chDB), records go in as a JSON lines file the engine reads itself: msgspec
    encodes a row in C (~1.3 µs) and the engine parses it without the GIL, where building and
    serialising columns in Python holds the GIL for ~10 µs a row. A server gets columns
    (clickhouse-connect's Native format); a test checks both give the same rows.
    """

    def __init__(self, dsn: str, database: str, read_timeout: float | None = None) -> None:
        self.dsn = dsn
        self.database = database
        self.reads_local_files = dsn.startswith("chdb://")
        self._lock = threading.Lock()
        self._client: Client = clickhouse_connect.get_client(dsn=dsn)
        self._read_lock = threading.Lock()
        # a server's reads give up after ``read_timeout`` (clickhouse-connect waits 300 s)
        served = read_timeout and not self.reads_local_files
        timeout = {"send_receive_timeout": read_timeout} if served else {}
        self._reader: Client = clickhouse_connect.get_client(
            dsn=dsn, settings=READ_SETTINGS, **timeout
        )
        self._insert_contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}
        self._file_inserts: dict[tuple[str, tuple[str, ...]], str] = {}

    def migrate(self) -> int:
        """Apply the DDL idempotently; returns how many statements ran."""
        statements = ddl_statements(self.database)
        with self._lock:
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            for _, statement in statements:
                self._client.command(statement)
            self._materialize_projections()
            self._backfill(self._unfilled())
        log.info("clickhouse.migrated", statements=len(statements), database=self.database)
        return len(statements)

    def _unfilled(self) -> list[tuple[str, str]]:
        """The fed tables that are empty while ``events`` is not: just created on a data dir
        with events, or created by a migrate that stopped before filling them."""
        count = "SELECT count() FROM {db}.{table}"
        if not self._client.query(count.format(db=self.database, table="events")).result_rows[0][0]:
            return []
        return [
            (table, view)
            for table, view in FED_TABLES
            if not self._client.query(count.format(db=self.database, table=table)).result_rows[0][0]
        ]

    def _backfill(self, fresh: list[tuple[str, str]]) -> None:
        """Fill each table with its view's SELECT over the rows stored before it existed.
        An insert that lands between the view's creation and this read has its rows twice:
        the tables so fed tolerate that (a funnel's answer does not change)."""
        for table, view in fresh:
            select = self._client.query(
                "SELECT as_select FROM system.tables WHERE database = {d:String} "
                "AND name = {v:String}",
                parameters={"d": self.database, "v": view},
            ).result_rows[0][0]
            log.info("clickhouse.backfill", table=table)
            self._client.command(f"INSERT INTO {self.database}.{table} {select}")

    def _materialize_projections(self) -> None:
        """Backfill: a projection added to a table with data covers the parts written since;
        older parts get it from a background mutation, started only when a part lacks it (a
        query reads such parts as they are meanwhile, with the same answers)."""
        for table, projection in PROJECTIONS:
            lacking = self._client.query(
                "SELECT count() FROM system.parts WHERE database = {d:String} "
                "AND table = {t:String} AND active AND NOT has(projections, {p:String})",
                parameters={"d": self.database, "t": table, "p": projection},
            ).result_rows[0][0]
            if lacking:
                log.info("clickhouse.materialize_projection", table=table, parts=lacking)
                self._client.command(
                    f"ALTER TABLE {self.database}.{table} MATERIALIZE PROJECTION {projection}"
                )

    @retries.write
    def insert(self, block: InsertBlock, as_columns: bool = False) -> None:
        """Insert one block, retried a few times (``retries.write``): for occasional writes.
        The runtimes' sinks call ``insert_once`` under their own policy (``retries.insert``)."""
        self.insert_once(block, as_columns)

    def insert_once(self, block: InsertBlock, as_columns: bool = False) -> None:
        """Insert one block, one attempt; records go in as a file the engine reads when it
        runs in-process, unless ``as_columns``."""
        if not block.row_count:
            return
        with self._lock:
            statement = "" if as_columns else self._file_insert_statement(block)
            if statement:
                self._insert_from_file(statement, block)
            else:
                self._insert_columns(block)

    def _file_insert_statement(self, block: InsertBlock) -> str:
        """The statement that reads ``block``'s records from a file (looked up once per table
        and columns), or ``""`` when its rows go in as columns."""
        if not (isinstance(block, RecordBlock) and self.reads_local_files):
            return ""
        key = (block.table, block.column_names)
        statement = self._file_inserts.get(key)
        if statement is None:
            statement = self._file_inserts[key] = file_insert_statement(
                f"{self.database}.{block.table}", self._describe(block.table), block.column_names
            )
        return statement

    def _insert_columns(self, block: InsertBlock) -> None:
        key = (block.table, block.column_names)
        context = self._insert_contexts.get(key)
        if context is None:  # looks the column types up once, not on every insert
            context = self._insert_context(block)
            self._insert_contexts[key] = context
        context.data = block.columns
        self._client.insert(context=context)

    def _insert_from_file(self, statement: str, block: RecordBlock) -> None:
        with tempfile.NamedTemporaryFile(
            prefix="trackhouse-insert-", suffix=".jsonl", delete=False
        ) as file:
            file.write(_lines_encoder.encode_lines(block.records))
        try:
            self._client.command(statement.replace("{path}", _sql_string(file.name)))
        finally:
            os.unlink(file.name)

    def _describe(self, table: str) -> dict[str, str]:
        """Column name -> type of one of our tables."""
        rows = self._client.query(f"DESCRIBE TABLE {self.database}.{table}").result_rows
        return dict(row[:2] for row in rows)

    def _insert_context(self, block: InsertBlock) -> InsertContext:
        """LowCardinality(String) columns are sent as plain String: ClickHouse converts them
        on insert, and clickhouse-connect need not build their dictionaries in Python."""
        table = f"{self.database}.{block.table}"
        described = self._describe(block.table)
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
        with self._read_lock:
            result = self._reader.query(sql, parameters=parameters or {})
        return result.column_names, result.result_rows

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.command(sql, parameters=parameters or {})

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._client.close()


class Reader:
    """A read connection of its own to the same engine (chDB runs queries on several
    connections at once): ``query`` as ``ClickHouse.query``, one at a time on this one.

    ``nice`` (1-19) lowers the CPU priority of a query's threads (``os_thread_priority``), so
    ingest comes first when the edge's reads and a load share the cores. The engine applies
    it only with CAP_SYS_NICE (root in a container has it); without, it is ignored."""

    def __init__(self, dsn: str, nice: int = 0) -> None:
        self._lock = threading.Lock()
        settings = {**READ_SETTINGS, "os_thread_priority": nice} if nice else READ_SETTINGS
        self._client: Client = clickhouse_connect.get_client(dsn=dsn, settings=settings)

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        with self._lock:
            result = self._client.query(sql, parameters=parameters or {})
        return result.column_names, result.result_rows

    def close(self) -> None:
        with self._lock:
            self._client.close()
