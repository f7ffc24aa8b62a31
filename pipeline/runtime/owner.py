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
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import structlog

from pipeline import metrics
from pipeline.log_config import configure_logging
from pipeline.runtime.gc_tuning import keep_collector_off_hot_path
from pipeline.runtime.owner_errors import OwnerError, OwnerTimeoutError
from pipeline.runtime.read_lanes import ReadingOn, ReadLanes
from pipeline.settings import Settings
from pipeline.sink.raw_sql import RawAnswer
from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
PR_SET_PDEATHSIG = 1
READY_TIMEOUT_SECONDS = 120.0
HEARTBEAT_SECONDS = 0.2
METRICS_TIMEOUT_SECONDS = 5.0


class RemoteClickHouse:
    """The parts of ``ClickHouse`` the edge uses, answered by the storage owner process.

    One request is in flight at a time per pipe (the child answers in order); with ``read_on``,
    queries go over several pipes at once. Every call has a deadline:
    the lock, and the answer, are waited for at most ``timeout`` seconds. A call that times out
    leaves its answer owed: the next call first reads (and drops) it, matched by request id, so
    a late answer never reaches the wrong caller, and no second request is queued behind a
    stalled one (the pipe cannot fill up)."""

    def __init__(self, connection: Connection, database: str, timeout: float = 30.0) -> None:
        self.database = database
        self.timeout = timeout
        self._connection = connection
        self._lock = threading.Lock()
        self._last_id = 0
        self._owed: int | None = None  # the request whose answer has not been read yet
        self._reads: ReadLanes | None = None

    def _call(self, *request: Any, timeout: float | None = None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            raise OwnerTimeoutError(f"the storage process is busy (waited {timeout:g} s)")
        try:
            if self._owed is not None:
                self._answer(self._owed, deadline, timeout)
            self._last_id += 1
            self._owed = self._last_id
            self._connection.send((self._last_id, *request))
            status, value = self._answer(self._last_id, deadline, timeout)
        except (EOFError, OSError) as exc:
            raise OwnerError("the storage process is gone") from exc
        finally:
            self._lock.release()
        if status == "error":
            raise OwnerError(value)
        return value

    def _answer(self, request_id: int, deadline: float, timeout: float) -> tuple[str, Any]:
        """The answer to ``request_id`` (earlier ones are dropped); raises on the deadline."""
        while True:
            if not self._connection.poll(max(0.0, deadline - time.monotonic())):
                raise OwnerTimeoutError(f"the storage process did not answer within {timeout:g} s")
            answered, status, value = self._connection.recv()
            if answered == request_id:
                self._owed = None
                return status, value

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        if self._reads is not None:
            return self._reads.query(sql, parameters, timeout)
        return self._call("query", sql, parameters, timeout=timeout)

    def read_on(self, reads: ReadLanes) -> None:
        """Send ``query`` calls over these lanes instead, as many at once as there are."""
        self._reads = reads

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call("command", sql, parameters)

    def insert(self, block: Block) -> None:
        self._call("insert", block)

    def metrics_text(self) -> bytes:
        return self._call("metrics", timeout=METRICS_TIMEOUT_SECONDS)

    def raw(self, sql: str, fmt: str, params: dict[str, str], database: str) -> RawAnswer:
        """An analyst's read-only query, answered as bytes in ``fmt`` (live SQL)."""
        return self._call("raw", sql, fmt, params, database)


class StorageOwner:
    """Parent-side handle: starts the child, reports durable spool offsets, stops it.

    After start one thread writes the control pipe (the newest durable spool end, and a ping
    every ``HEARTBEAT_SECONDS``), so a stalled child never blocks the event loop; another reads
    the child's answers. The child is *stalled* when it has not answered for
    ``storage_stall_seconds``."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_control = context.Pipe()
        requests, child_requests = context.Pipe()
        database, timeout = settings.clickhouse_database, settings.storage_timeout_seconds
        self.clickhouse = RemoteClickHouse(requests, database, timeout)
        # The edge's reads run side by side, each on a lane (a pipe, a thread and a chDB
        # connection of its own), in two classes (pipeline/runtime/read_lanes.py): light ones
        # at normal priority, aggregates (a dashboard sends 6 at a time) at the lowest; writes,
        # key refreshes and metrics keep the main pipe.
        light_pipes = [context.Pipe() for _ in range(settings.storage_light_read_connections)]
        aggregate_pipes = [context.Pipe() for _ in range(settings.storage_read_connections)]
        self.clickhouse.read_on(_lanes(light_pipes, database, timeout))
        self.aggregates = ReadingOn(self.clickhouse, _lanes(aggregate_pipes, database, timeout))
        # Live SQL has a pipe (and a thread in the child) of its own: an analyst's query, up
        # to its time limit, never queues the edge's reads, key refreshes or metrics.
        analyst, child_analyst = context.Pipe()
        self.analyst = RemoteClickHouse(
            analyst, settings.clickhouse_database, settings.live_sql_max_execution_seconds + 5
        )
        self._process = context.Process(
            target=owner_main,
            args=(
                settings.model_dump(),
                os.getpid(),
                child_control,
                child_requests,
                child_analyst,
                [theirs for _, theirs in light_pipes],
                [theirs for _, theirs in aggregate_pipes],
            ),
            name="trackhouse-storage",
            daemon=False,
        )
        self.stall_seconds = settings.storage_stall_seconds
        self._stopping = False
        self._exited = threading.Event()
        self._wake = threading.Event()
        self._send_lock = threading.Lock()
        self._spool_end = 0
        self._answered_at = time.monotonic()
        self.inserted_offset = 0

    def start(self, spool_end: int) -> None:
        """Start the child and wait until ClickHouse is migrated and the processor runs."""
        self._process.start()
        self._spool_end = spool_end
        self._control.send(("end", spool_end))
        if not self._control.poll(READY_TIMEOUT_SECONDS):
            raise OwnerError("the storage process did not start")
        try:
            _ready, self.inserted_offset = self._control.recv()
        except EOFError:
            raise OwnerError("the storage process failed to start (see its log)") from None
        self._answered_at = time.monotonic()
        threading.Thread(target=self._watch, name="storage-watch", daemon=True).start()
        threading.Thread(target=self._listen, name="storage-listen", daemon=True).start()
        threading.Thread(target=self._send, name="storage-control", daemon=True).start()

    def _listen(self) -> None:
        """Follow how far the storage process has inserted (the edge sheds load past a limit)
        and when it last answered."""
        while True:
            try:
                _kind, offset = self._control.recv()
            except (EOFError, OSError):
                return
            self._answered_at = time.monotonic()
            self.inserted_offset = max(self.inserted_offset, offset)

    def _send(self) -> None:
        """Tell the child the newest durable spool end when it moved; ping it every
        ``HEARTBEAT_SECONDS`` (it answers with how far it has inserted)."""
        sent_end, pinged_at = self._spool_end, 0.0
        while not self._stopping:
            self._wake.wait(HEARTBEAT_SECONDS)
            self._wake.clear()
            with self._send_lock:
                if self._stopping:
                    return
                try:
                    end = self._spool_end
                    if end != sent_end:
                        self._control.send(("end", end))
                        sent_end = end
                    if time.monotonic() - pinged_at >= HEARTBEAT_SECONDS:
                        self._control.send(("ping",))
                        pinged_at = time.monotonic()
                except OSError:
                    return

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

    @property
    def silent_seconds(self) -> float:
        """Seconds since the storage process last answered."""
        return time.monotonic() - self._answered_at

    def unavailable(self) -> str:
        """Why the storage process cannot be relied on now ('' when it can)."""
        if not self.alive:
            return "the storage process is gone"
        silent = self.silent_seconds
        if silent > self.stall_seconds:
            return f"the storage process has not answered for {silent:.1f} s"
        return ""

    def advance(self, spool_end: int) -> None:
        """Everything below ``spool_end`` is durable: the processor may read it (sent by the
        control thread, so this never blocks). Publishes finish out of order (their fsyncs
        run in a pool), so an older end reported late never moves it back. Called on the event
        loop only: no two calls race."""
        if spool_end > self._spool_end:
            self._spool_end = spool_end
            self._wake.set()

    def metrics_text(self) -> bytes:
        return metrics.edge_text() + self.clickhouse.metrics_text()

    def stop(self, timeout: float = 120.0) -> None:
        """Drain: the child processes what is durable, flushes, checkpoints and exits."""
        locked = self._send_lock.acquire(timeout=10.0)
        self._stopping = True
        self._wake.set()
        try:
            with contextlib.suppress(OSError):
                self._control.send(("end", self._spool_end))
                self._control.send(("stop",))
        finally:
            if locked:
                self._send_lock.release()
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


def _serve_requests(connection: Connection, handlers: dict[str, Any]) -> None:
    while True:
        try:
            request_id, kind, *args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send((request_id, "ok", handlers[kind](*args)))
        except Exception as exc:  # the parent turns it into an API error
            log.warning("storage.request_failed", kind=kind, error=str(exc))
            connection.send((request_id, "error", f"{type(exc).__name__}: {exc}"))


def _lanes(
    pipes: Sequence[tuple[Connection, Connection]], database: str, timeout: float
) -> ReadLanes:
    """The parent's ends of ``pipes`` as read lanes."""
    return ReadLanes(
        [RemoteClickHouse(mine, database, timeout) for mine, _ in pipes], database, timeout
    )


def owner_main(
    settings_data: dict[str, Any],
    parent_pid: int,
    control: Connection,
    requests: Connection,
    analyst: Connection,
    reads: Sequence[Connection] = (),
    aggregate_reads: Sequence[Connection] = (),
) -> None:
    """Entry point of the storage process."""
    _die_with_parent(parent_pid)
    from pipeline.notify.service import Notifications
    from pipeline.plans.book import PlanBook
    from pipeline.privacy.retention import Policy, RetentionJob
    from pipeline.privacy.tombstones import Tombstones
    from pipeline.runtime.processor import Processor
    from pipeline.runtime.spool import SpoolReader
    from pipeline.runtime.state_store import StateStore
    from pipeline.sink.clickhouse import ClickHouse, Reader
    from pipeline.sink.raw_sql import RawLimits, RawSql

    settings = Settings(**settings_data)
    configure_logging(settings.log_level, settings.log_json)
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    clickhouse.migrate()
    _kind, spool_end = control.recv()
    reader = SpoolReader(settings.spool_dir, spool_end)
    store = StateStore(settings.state_dir)
    send_lock = threading.Lock()

    def report_inserted(offset: int, kind: str = "inserted") -> None:
        with send_lock, contextlib.suppress(OSError):
            control.send((kind, offset))

    notifications = Notifications(clickhouse, settings)
    processor = Processor(
        reader,
        store,
        clickhouse,
        settings,
        on_inserted=report_inserted,
        tombstones=Tombstones().load(clickhouse),
        notices=notifications.outbox,
        plans=PlanBook(clickhouse, settings.plan_reload_seconds),
    )
    handlers = {
        "query": clickhouse.query,
        "command": clickhouse.command,
        "insert": clickhouse.insert,
        "metrics": metrics.processor_text,
    }
    threading.Thread(
        target=_serve_requests, args=(requests, handlers), name="storage-requests", daemon=True
    ).start()
    lanes = [(pipe, "light", 0) for pipe in reads]
    lanes += [(pipe, "aggregate", settings.storage_read_nice) for pipe in aggregate_reads]
    readers = [Reader(settings.clickhouse_dsn, nice) for _, _, nice in lanes]
    for number, ((pipe, kind, _), one) in enumerate(zip(lanes, readers, strict=True)):
        threading.Thread(
            target=_serve_requests,
            args=(pipe, {"query": one.query}),
            name=f"storage-reads-{kind}-{number}",
            daemon=True,
        ).start()
    raw = None
    if settings.analyst_token.get_secret_value():  # live SQL is on
        limits = RawLimits.from_settings(settings)
        raw = RawSql(settings.clickhouse_dsn, settings.clickhouse_database, limits)
        threading.Thread(
            target=_serve_requests,
            args=(analyst, {"raw": raw.run}),
            name="storage-analyst",
            daemon=True,
        ).start()
    keep_collector_off_hot_path()
    notifications.start()  # resends what the outbox holds pending (a crash, a replay)
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
        if message[0] == "ping":  # the edge's heartbeat: it sheds load while we do not answer
            report_inserted(processor.inserted_offset, "pong")
            continue
        reader.advance(message[1])
    retention.stop()
    processor.stop()
    notifications.stop()
    store.close()
    if raw is not None:  # (an open chDB handle at exit crashes the engine's shutdown)
        raw.close()
    for one in readers:
        one.close()
    clickhouse.close()
    log.info("storage.stopped")
