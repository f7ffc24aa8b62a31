"""The delivery worker: sends pending deliveries, at least once, in order per destination.

It runs an asyncio loop in a thread of the process that owns the data. Deliveries come from
the outbox (``submit``: what a flush stored; ``rescan``: every pending row in ClickHouse, at
start and every few seconds, which also picks up replayed dead letters). Each destination has
its own queue and at most ``notify_concurrency`` deliveries in flight, so a slow or dead
destination delays only itself. Each attempt is retried by ``retries.notify_async`` and
recorded (``notification_deliveries``); the outbox row becomes ``sent`` or ``dead``. Records
are written in small batches off the loop; a delivery leaves the worker's memory only once its
final status is written (a crash before that sends it again: at least once, same ids)."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from collections import deque
from collections.abc import Callable

import structlog
import uvloop

from pipeline import metrics, retries
from pipeline.notify import http, payloads
from pipeline.notify.config import Destination
from pipeline.notify.store import Attempt, NotifyStore, Pending, now_ms
from pipeline.settings import Settings

log = structlog.get_logger(__name__)
RESCAN_SECONDS = 5.0  # replayed dead letters are picked up within this
FULL_RESCAN_SECONDS = 60.0
STALE_SECONDS = 30.0  # pending longer than this without being handed over: a full scan sends it
SCAN_MARGIN_SECONDS = 60.0  # a scan looks this far before the last one (late inserts)
RECORD_SECONDS = 0.5  # attempts and statuses are written this often, one insert each


class DeliveryError(retries.RetryableError):
    """An attempt failed and may be tried again (5xx, 408, 429, network, timeout)."""

    def __init__(self, code: int, error: str, retry_after: float = 0.0) -> None:
        super().__init__(error)
        self.code = code
        self.error = error
        self.retry_after = retry_after


class Refused(Exception):
    """The destination refused for good (a 4xx other than 408/429; no such destination)."""

    def __init__(self, code: int, error: str) -> None:
        super().__init__(error)
        self.code = code
        self.error = error


def retry_after_of(value: str | None) -> float:
    """``Retry-After`` in seconds (delta-seconds only; an HTTP date counts as 0)."""
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


class Deliverer:
    """Sends one delivery once: raises ``DeliveryError`` (retry) or ``Refused`` (stop)."""

    def __init__(self, settings: Settings) -> None:
        """In the event loop that sends (the connections belong to it)."""
        self.settings = settings
        self.client = http.Client(settings.notify_timeout_seconds)

    async def send(self, destination: Destination, pending: Pending) -> int:
        if destination.kind == "email":
            await asyncio.to_thread(self._email, destination, pending)
            return 250
        headers, body = payloads.http_request(destination, pending)
        try:
            answer = await self.client.post(destination.url, headers, body)
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(0, f"{type(exc).__name__}: {exc}"[:200]) from None
        except ValueError as exc:  # nothing to send it with: it would not work later either
            raise Refused(0, f"{type(exc).__name__}: {exc}"[:200]) from None
        code = answer.status
        if code < 300:
            return code
        error = f"HTTP {code}: {answer.body[:120].decode(errors='replace')}"
        if code in (408, 429) or code >= 500:
            raise DeliveryError(code, error, retry_after_of(answer.retry_after))
        raise Refused(code, error)

    def _email(self, destination: Destination, pending: Pending) -> None:
        s = self.settings
        if not s.smtp_host:
            raise Refused(0, "no SMTP server (set TRACKHOUSE_SMTP_HOST)")
        message = payloads.email(destination, pending, s.smtp_from)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout_seconds) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise Refused(550, f"recipients refused: {exc}"[:200]) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(0, f"{type(exc).__name__}: {exc}"[:200]) from None

    async def close(self) -> None:
        self.client.close()


class DeliveryWorker:
    """Per-destination queues of pending deliveries, sent by ``notify_concurrency`` tasks each."""

    def __init__(
        self,
        store: NotifyStore,
        destinations: Callable[[], dict[str, Destination]],
        settings: Settings,
    ) -> None:
        self.store = store
        self.destinations = destinations
        self.settings = settings
        self._known: set[str] = set()  # delivery ids queued, in flight, or not yet recorded
        self._queues: dict[str, deque[Pending]] = {}
        self._senders: dict[str, int] = {}
        self._attempts: list[Attempt] = []
        self._finished: list[tuple[Pending, str]] = []
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="notify-delivery", daemon=True)
        self._stopping = False
        self._done_during_scan: set[str] | None = None
        self._deliverer: Deliverer | None = None

    # from other threads
    def start(self) -> None:
        self._thread.start()

    def submit(self, pending: list[Pending]) -> None:
        self._loop.call_soon_threadsafe(self._enqueue, pending)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._drain(), self._loop).result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    # on the loop
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._begin())
        self._loop.run_forever()

    async def _begin(self) -> None:
        self._deliverer = Deliverer(self.settings)
        self._loop.create_task(self._rescan_forever())
        self._loop.create_task(self._record_forever())

    async def _drain(self) -> None:
        """Write what was recorded; deliveries still in flight are sent again at the next
        start (they are pending in the outbox)."""
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()
        await self._record()
        if self._deliverer is not None:
            await self._deliverer.close()

    def _enqueue(self, pending: list[Pending]) -> None:
        for p in pending:
            if p.delivery_id in self._known:
                continue
            self._known.add(p.delivery_id)
            self._queues.setdefault(p.destination_id, deque()).append(p)
        for destination, queue in self._queues.items():
            most = max(1, self.settings.notify_concurrency)
            while queue and self._senders.get(destination, 0) < most:
                self._senders[destination] = self._senders.get(destination, 0) + 1
                self._loop.create_task(self._send_from(destination, queue))
        metrics.NOTIFY_PENDING.set(len(self._known))

    async def _send_from(self, destination_id: str, queue: deque[Pending]) -> None:
        try:
            while queue and not self._stopping:
                await self._deliver(queue.popleft())
        finally:
            self._senders[destination_id] -= 1

    async def _rescan_forever(self) -> None:
        """Every ``RESCAN_SECONDS``, the deliveries set pending again since the last look
        (replayed dead letters); every ``FULL_RESCAN_SECONDS`` (and first), every pending one
        older than ``STALE_SECONDS`` (what a flush's hand-over lost, a crashed worker's). The
        flushes hand over the rest: a scan of them all would cost the data's owner ~1 ms per
        thousand deliveries a second."""
        full_at, since = -FULL_RESCAN_SECONDS, 0
        while not self._stopping:
            started, full = now_ms(), time.monotonic() - full_at >= FULL_RESCAN_SECONDS
            try:
                self._done_during_scan = set()
                if full and not since:  # the first: everything pending
                    scan = {}
                elif full:  # rows untouched for longer than retries take are looked at once
                    give_up_ms = int((self.settings.notify_give_up_seconds + 3600) * 1000)
                    scan = {
                        "changed_since_ms": started - give_up_ms,
                        "created_before_ms": started - int(STALE_SECONDS * 1000),
                    }
                else:
                    scan = {"changed_since_ms": since, "repended": True}
                found = await asyncio.to_thread(self.store.outbox, "pending", None, 100_000, **scan)
                done, self._done_during_scan = self._done_during_scan, None
                self._enqueue([p for p in found if p.delivery_id not in done])
                full_at = time.monotonic() if full else full_at
                since = started - int(SCAN_MARGIN_SECONDS * 1000)
            except Exception as exc:
                log.warning("notify.rescan_failed", error=str(exc))
            await asyncio.sleep(RESCAN_SECONDS)

    async def _deliver(self, pending: Pending) -> None:
        destination = self.destinations().get(pending.destination_id)
        try:
            try:  # the first try without the retry machinery: most deliveries need no other
                await self._attempt(destination, pending)
            except DeliveryError as exc:
                await self._retry(destination, pending, exc)
        except (DeliveryError, Refused) as exc:
            self._note(pending, "dead", exc.code, exc.error, 0.0)
            self._finished.append((pending, "dead"))
            metrics.NOTIFY_FAILED.labels("dead").inc()
            log.warning("notify.dead_letter", delivery_id=pending.delivery_id, error=exc.error)
            return
        self._finished.append((pending, "sent"))

    async def _retry(
        self, destination: Destination | None, pending: Pending, failure: DeliveryError
    ) -> None:
        """Attempts after a first ``failure`` (the policy's first attempt: it waits what that
        asks, ``Retry-After`` included), until one is in or the policy gives up."""
        s = self.settings
        policy = retries.notify_async(
            lambda _exc: None,
            s.notify_retry_base_seconds,
            s.notify_retry_max_seconds,
            s.notify_give_up_seconds,
        )
        first: DeliveryError | None = failure
        async for attempt in policy:
            with attempt:
                if first is not None:
                    failed, first = first, None
                    raise failed
                await self._attempt(destination, pending)

    async def _attempt(self, destination: Destination | None, pending: Pending) -> None:
        pending.attempts += 1
        if destination is None:
            raise Refused(0, "the destination was deleted")
        started = time.perf_counter()
        try:
            code = await self._deliverer.send(destination, pending)  # type: ignore[union-attr]
        except DeliveryError as exc:
            latency = (time.perf_counter() - started) * 1000
            self._note(pending, "failed", exc.code, exc.error, latency)
            metrics.NOTIFY_FAILED.labels("retried").inc()
            raise
        except Refused as exc:
            latency = (time.perf_counter() - started) * 1000
            self._note(pending, "failed", exc.code, exc.error, latency)
            raise
        self._note(pending, "sent", code, "", (time.perf_counter() - started) * 1000)
        metrics.NOTIFY_SENT.inc()
        metrics.NOTIFY_LAG.observe(max(0.0, time.time() - pending.created_at / 1000))

    def _note(self, pending: Pending, status: str, code: int, error: str, latency: float) -> None:
        self._attempts.append(
            Attempt(pending, pending.attempts, now_ms(), status, latency, code, error)
        )

    async def _record_forever(self) -> None:
        while True:
            await asyncio.sleep(RECORD_SECONDS)
            try:
                await self._record()
            except Exception as exc:  # kept, written with the next batch
                log.warning("notify.record_failed", error=str(exc))

    async def _record(self) -> None:
        attempts, finished = self._attempts, self._finished
        if not attempts and not finished:
            return
        self._attempts, self._finished = [], []
        try:
            await asyncio.to_thread(self._write, attempts, finished)
        except Exception:
            self._attempts[:0], self._finished[:0] = attempts, finished
            raise
        for pending, _status in finished:
            self._known.discard(pending.delivery_id)
            if self._done_during_scan is not None:  # a scan running now may still see it pending
                self._done_during_scan.add(pending.delivery_id)
        metrics.NOTIFY_PENDING.set(len(self._known))

    def _write(self, attempts: list[Attempt], finished: list[tuple[Pending, str]]) -> None:
        self.store.record(attempts)
        for pending, status in finished:
            if status == "sent":  # nothing will send it again: its payload need not be kept
                pending.payload = ""
        self.store.set_statuses(finished)
