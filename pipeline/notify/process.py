"""The delivery worker in a process of its own, so that sending never competes with storing for
one interpreter lock (at 5,000 deliveries/s the sending alone takes half a core).

The process that owns the data (the embedded storage process, or the Kafka sink worker) starts
it once a destination exists, and:

- hands it what each flush stored (``submit``: queued and sent by a thread, so a stalled child
  never holds up a flush; past ``QUEUE_LIMIT`` deliveries are dropped here, since they are
  pending in the outbox and the child's rescan finds them);
- sends it the destinations whenever they change (the first ones with its start);
- answers its reads and writes of the notification tables over a pipe (``PipeClickHouse``):
  the outbox rescans and the batched attempt records. The child never opens ClickHouse: chDB
  allows one engine per process;
- shows the child's ``trackhouse_notifications_*`` metrics in its own ``/metrics``.

The child dies with its parent (``PR_SET_PDEATHSIG``); one that dies alone is started again and
resends what the outbox holds pending (at least once, same ids)."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import structlog
from prometheus_client.registry import Collector

from pipeline import metrics
from pipeline.log_config import configure_logging
from pipeline.notify.config import Destination
from pipeline.notify.delivery import DeliveryWorker
from pipeline.notify.store import NotifyStore, Pending
from pipeline.settings import Settings

log = structlog.get_logger(__name__)
QUEUE_LIMIT = 200_000  # deliveries waiting for the child; more are left to its rescan
CALL_TIMEOUT_SECONDS = 120.0  # a read or write of the child not answered by then: it restarts
METRICS_SECONDS = 1.0
RESTART_SECONDS = 1.0
STOP_SECONDS = 15.0
NOTIFY_METRICS = (
    metrics.NOTIFY_SENT, metrics.NOTIFY_FAILED, metrics.NOTIFY_PENDING, metrics.NOTIFY_LAG,
)  # fmt: skip


def _fields(p: Pending) -> tuple[Any, ...]:
    return (
        p.delivery_id, p.project_id, p.destination_id, p.rule_id, p.event_id, p.created_at,
        p.payload, p.attempts,
    )  # fmt: skip


class PipeClickHouse:
    """``query`` and ``insert`` of the parent's ClickHouse client, in the child (one call at a
    time). A call unanswered for ``CALL_TIMEOUT_SECONDS`` ends the child (its answer would
    come late, to the wrong caller): the parent starts a new one."""

    def __init__(self, connection: Connection, database: str) -> None:
        self.database = database
        self._connection = connection
        self._lock = threading.Lock()

    def _call(self, *request: Any) -> Any:
        with self._lock:
            self._connection.send(request)
            if not self._connection.poll(CALL_TIMEOUT_SECONDS):
                log.error("notify.store_timeout", seconds=CALL_TIMEOUT_SECONDS)
                os._exit(75)
            status, value = self._connection.recv()
        if status == "error":
            raise RuntimeError(value)
        return value

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call("query", sql, parameters)

    def insert(self, block: Any) -> None:
        self._call("insert", block)


def _answer_store(connection: Connection, clickhouse: Any) -> None:
    """In the parent: the child's reads and writes, in order, until its pipe closes."""
    calls: dict[str, Callable[..., Any]] = {"query": clickhouse.query, "insert": clickhouse.insert}
    while True:
        try:
            kind, *args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", calls[kind](*args))
        except Exception as exc:  # the child logs it and tries again later
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            connection.send(answer)
        except OSError:
            return


class _Mirror(Collector):
    """The child's notification metrics, as it last reported them (zeros before)."""

    def __init__(self) -> None:
        self.families: list[Any] = []

    def collect(self) -> list[Any]:
        return self.families or [f for metric in NOTIFY_METRICS for f in metric.collect()]


_mirror: _Mirror | None = None


def _mirror_metrics() -> _Mirror:
    """In the parent, the child's metrics replace its own (which nothing here changes)."""
    global _mirror
    if _mirror is None:
        for metric in NOTIFY_METRICS:
            metrics.PROCESSOR_REGISTRY.unregister(metric)
        _mirror = _Mirror()
        metrics.PROCESSOR_REGISTRY.register(_mirror)
    return _mirror


class DeliveryProcess:
    """Parent side: ``start``, ``submit`` (any thread, never blocks), ``stop`` (drains)."""

    def __init__(
        self,
        clickhouse: Any,
        settings: Settings,
        destinations: Callable[[], dict[str, Destination]],
    ) -> None:
        self.clickhouse = clickhouse
        self.settings = settings
        self.destinations = destinations
        self._context = multiprocessing.get_context("spawn")
        self._queue: list[Pending] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._stopped = threading.Event()
        self._process: Any = None
        self._work: Connection | None = None
        self._sent_destinations: dict[str, Destination] | None = None
        self._dropped = False

    def start(self) -> None:
        self._mirror = _mirror_metrics()
        # one long-lived thread spawns the child: PR_SET_PDEATHSIG follows the spawning thread
        threading.Thread(target=self._supervise, name="notify-process", daemon=True).start()

    def submit(self, pending: list[Pending]) -> None:
        with self._lock:
            if len(self._queue) < QUEUE_LIMIT:
                self._queue.extend(pending)
            elif not self._dropped:
                self._dropped = True
                log.warning("notify.queue_full", queued=len(self._queue))
        self._wake.set()

    def stop(self) -> None:
        """Hand on what is queued, let the child write its records, and wait for it (at most
        ``STOP_SECONDS``; then it is killed, and what it had not recorded is sent again at the
        next start)."""
        self._stopping = True
        self._wake.set()
        self._stopped.wait(STOP_SECONDS + 5)

    # the supervising thread
    def _supervise(self) -> None:
        try:
            while not self._stopping:
                if self._process is None and not self._spawn():
                    self._wake.wait(RESTART_SECONDS)
                    self._wake.clear()
                    continue
                self._wake.wait(METRICS_SECONDS)
                self._wake.clear()
                self._send()
                if not self._process.is_alive() and not self._stopping:
                    log.error("notify.process_died", exitcode=self._process.exitcode)
                    self._forget()
                    time.sleep(RESTART_SECONDS)
            if self._process is not None:
                self._send()
                with contextlib.suppress(OSError):
                    self._work.send(("stop", None))  # type: ignore[union-attr]
                self._process.join(STOP_SECONDS)
                if self._process.exitcode is None:
                    log.error("notify.process_stop_timeout")
                    self._process.kill()
                    self._process.join()
        finally:
            self._stopped.set()

    def _spawn(self) -> bool:
        """Start the child once there is somewhere to deliver to."""
        destinations = self.destinations()
        if not destinations:
            return False
        work, child_work = self._context.Pipe()
        store, child_store = self._context.Pipe()
        self._process = self._context.Process(
            target=delivery_main,
            args=(self.settings.model_dump(), os.getpid(), destinations, child_work, child_store),
            name="trackhouse-delivery",
            daemon=True,
        )
        self._process.start()
        child_work.close()
        child_store.close()
        self._work, self._sent_destinations = work, destinations
        threading.Thread(
            target=_answer_store, args=(store, self.clickhouse), name="notify-store", daemon=True
        ).start()
        threading.Thread(
            target=self._listen, args=(work,), name="notify-listen", daemon=True
        ).start()
        return True

    def _forget(self) -> None:
        with contextlib.suppress(OSError):
            self._work.close()  # type: ignore[union-attr]
        self._process, self._work = None, None

    def _send(self) -> None:
        """The queued deliveries and changed destinations, to the child."""
        with self._lock:
            queued, self._queue, self._dropped = self._queue, [], False
        destinations = self.destinations()
        try:
            if destinations != self._sent_destinations:
                self._work.send(("destinations", destinations))  # type: ignore[union-attr]
                self._sent_destinations = destinations
            if queued:
                self._work.send(("submit", [_fields(p) for p in queued]))  # type: ignore[union-attr]
        except OSError:  # the child is gone: its successor's rescan finds them pending
            pass

    def _listen(self, work: Connection) -> None:
        while True:
            try:
                kind, value = work.recv()
            except (EOFError, OSError):
                return
            if kind == "metrics":
                self._mirror.families = value


def _die_with_parent(parent_pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    # Ctrl-C and SIGTERM go to the whole group: the parent stops the child in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def delivery_main(
    settings_data: dict[str, Any],
    parent_pid: int,
    destinations: dict[str, Destination],
    work: Connection,
    store: Connection,
) -> None:
    """Entry point of the delivery process."""
    _die_with_parent(parent_pid)
    settings = Settings(**settings_data)
    configure_logging(settings.log_level, settings.log_json)
    known = {"destinations": destinations}
    clickhouse = PipeClickHouse(store, settings.clickhouse_database)
    worker = DeliveryWorker(NotifyStore(clickhouse), lambda: known["destinations"], settings)
    worker.start()  # resends what the outbox holds pending
    send_lock = threading.Lock()

    def report() -> None:
        with send_lock, contextlib.suppress(OSError):
            work.send(("metrics", [f for metric in NOTIFY_METRICS for f in metric.collect()]))

    def report_forever() -> None:
        while True:
            time.sleep(METRICS_SECONDS)
            report()

    threading.Thread(target=report_forever, name="notify-metrics", daemon=True).start()
    while True:
        try:
            kind, value = work.recv()
        except (EOFError, OSError):
            break
        if kind == "submit":
            worker.submit([Pending(*fields) for fields in value])
        elif kind == "destinations":
            known["destinations"] = value
        else:  # stop
            break
    worker.stop()
    report()
