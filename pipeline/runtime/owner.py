"""The embedded runtime's storage owner: a child process that owns chDB, the stage state and the
processor, so that the HTTP edge (parent) and the processor each get a core of their own.

chDB allows one engine per process, so everything that touches ClickHouse runs here; the parent
reaches it through ``RemoteClickHouse`` (reads, the project registry, metrics) over a private
pipe. The parent tells the child how far the spool is durable; the child never reads past that.
The child dies with its parent (``PR_SET_PDEATHSIG``): after a ``kill -9`` both restart from
the checkpoint, and replayed rows collapse.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import structlog

from pipeline import metrics
from pipeline.log_config import configure_logging
from pipeline.runtime.gc_tuning import keep_collector_off_hot_path
from pipeline.settings import Settings
from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
PR_SET_PDEATHSIG = 1
READY_TIMEOUT_SECONDS = 120.0


class OwnerError(RuntimeError):
    """The storage owner failed a request, or is gone."""


class RemoteClickHouse:
    """The parts of ``ClickHouse`` the edge uses, answered by the storage owner process."""

    def __init__(self, connection: Connection, database: str) -> None:
        self.database = database
        self._connection = connection
        self._lock = threading.Lock()

    def _call(self, *request: Any) -> Any:
        with self._lock:
            try:
                self._connection.send(request)
                status, value = self._connection.recv()
            except (EOFError, OSError) as exc:
                raise OwnerError("the storage process is gone") from exc
        if status == "error":
            raise OwnerError(value)
        return value

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        return self._call("query", sql, parameters)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call("command", sql, parameters)

    def insert(self, block: Block) -> None:
        self._call("insert", block)

    def metrics_text(self) -> bytes:
        return self._call("metrics")


class StorageOwner:
    """Parent-side handle: starts the child, reports durable spool offsets, stops it."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_control = context.Pipe()
        requests, child_requests = context.Pipe()
        self.clickhouse = RemoteClickHouse(requests, settings.clickhouse_database)
        self._process = context.Process(
            target=owner_main,
            args=(settings.model_dump(), os.getpid(), child_control, child_requests),
            name="trackhouse-storage",
            daemon=False,
        )
        self._stopping = False
        self._exited = threading.Event()
        self.inserted_offset = 0

    def start(self, spool_end: int) -> None:
        """Start the child and wait until ClickHouse is migrated and the processor runs."""
        self._process.start()
        self._control.send(("end", spool_end))
        if not self._control.poll(READY_TIMEOUT_SECONDS):
            raise OwnerError("the storage process did not start")
        try:
            _ready, self.inserted_offset = self._control.recv()
        except EOFError:
            raise OwnerError("the storage process failed to start (see its log)") from None
        threading.Thread(target=self._watch, name="storage-watch", daemon=True).start()
        threading.Thread(target=self._listen, name="storage-listen", daemon=True).start()

    def _listen(self) -> None:
        """Follow how far the storage process has inserted (the edge sheds load past a limit)."""
        while True:
            try:
                _kind, offset = self._control.recv()
            except (EOFError, OSError):
                return
            self.inserted_offset = max(self.inserted_offset, offset)

    def _watch(self) -> None:
        """Without its storage process the edge cannot keep its promises: exit (accepted events
        are in the spool; the next start replays them)."""
        self._process.join()  # the only joiner: concurrent waitpid() calls would race
        self._exited.set()
        if not self._stopping:
            log.error("storage.process_died", exitcode=self._process.exitcode)
            os._exit(70)

    @property
    def alive(self) -> bool:
        return not self._exited.is_set()

    def advance(self, spool_end: int) -> None:
        """Everything below ``spool_end`` is durable: the processor may read it."""
        self._control.send(("end", spool_end))

    def metrics_text(self) -> bytes:
        return metrics.edge_text() + self.clickhouse.metrics_text()

    def stop(self, timeout: float = 120.0) -> None:
        """Drain: the child processes what is durable, flushes, checkpoints and exits."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._control.send(("stop",))
        if not self._exited.wait(timeout):
            log.error("storage.stop_timeout")
            self._process.kill()


def _die_with_parent(parent_pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    # Ctrl-C and SIGTERM go to the parent, which drains the child in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _serve_requests(connection: Connection, clickhouse: Any) -> None:
    handlers = {
        "query": clickhouse.query,
        "command": clickhouse.command,
        "insert": clickhouse.insert,
        "metrics": metrics.processor_text,
    }
    while True:
        try:
            kind, *args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send(("ok", handlers[kind](*args)))
        except Exception as exc:  # the parent turns it into an API error
            log.warning("storage.request_failed", kind=kind, error=str(exc))
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


def owner_main(
    settings_data: dict[str, Any], parent_pid: int, control: Connection, requests: Connection
) -> None:
    """Entry point of the storage process."""
    _die_with_parent(parent_pid)
    from pipeline.privacy.retention import Policy, RetentionJob
    from pipeline.privacy.tombstones import Tombstones
    from pipeline.runtime.embedded import Processor
    from pipeline.runtime.spool import SpoolReader
    from pipeline.runtime.state_store import StateStore
    from pipeline.sink.clickhouse import ClickHouse

    settings = Settings(**settings_data)
    configure_logging(settings.log_level, settings.log_json)
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    clickhouse.migrate()
    _kind, spool_end = control.recv()
    reader = SpoolReader(settings.spool_dir, spool_end)
    store = StateStore(settings.state_dir)
    send_lock = threading.Lock()

    def report_inserted(offset: int) -> None:
        with send_lock, contextlib.suppress(OSError):
            control.send(("inserted", offset))

    processor = Processor(
        reader,
        store,
        clickhouse,
        settings,
        on_inserted=report_inserted,
        tombstones=Tombstones().load(clickhouse),
    )
    threading.Thread(
        target=_serve_requests, args=(requests, clickhouse), name="storage-requests", daemon=True
    ).start()
    keep_collector_off_hot_path()
    processor.start()
    retention = RetentionJob(
        clickhouse,
        Policy(settings.anonymous_retention_days, settings.retention_days),
        settings.retention_check_seconds,
    )
    retention.start()
    with send_lock:
        control.send(("ready", processor.inserted_offset))
    while True:
        try:
            message = control.recv()
        except (EOFError, OSError):
            break
        if message[0] == "stop":
            break
        reader.advance(message[1])
    retention.stop()
    processor.stop()
    store.close()
    clickhouse.close()
    log.info("storage.stopped")
