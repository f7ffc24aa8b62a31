"""The Python server SDK: events are queued and sent in gzipped batches by a background thread.

Delivery
    ``track``/``page``/``identify``/``revenue`` build and check the event in the caller's thread
    (so a bad call raises ``ValidationError`` at once), stamp it with a ``message_id`` and the
    current time, and queue it. A daemon thread sends ``POST /v1/batch`` when ``batch_size``
    events are queued or ``flush_interval`` seconds after the first one, whichever comes first;
    ``flush()`` sends now and waits, ``shutdown()`` flushes and stops (also run at exit).
Overflow
    The queue holds at most ``max_queue_size`` events. When full, the *newest* event is dropped:
    ``track`` returns ``None``, ``dropped`` counts it and a warning is logged (the first drop and
    every 1000th after). The caller is never blocked.
Retries
    5xx, 429, timeouts and network errors are retried up to ``max_retries`` times with
    exponential backoff and full jitter (``Retry-After`` is honoured when the server sends it).
    Other 4xx answers are never retried. Every event carries a ``message_id`` and the server
    collapses re-sends of one, so a retry after a lost answer does not duplicate rows.
Errors
    In the background they cannot be raised: each failed event is passed to ``on_error(error,
    event)`` (default: log) as a typed error (see ``trackhouse_sdk.errors``). With ``sync=True``
    each call is sent at once to ``POST /v1/events`` and raises the typed error instead.
"""

from __future__ import annotations

import atexit
import gzip
import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as dt_time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from trackhouse_sdk.errors import (
    ApiError,
    TimeoutError,
    TrackhouseError,
    ValidationError,
    from_response,
)

log = logging.getLogger("trackhouse.sdk")

VERSION = "0.1.0"
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 480 * 1024  # the edge takes 500 KB (after gunzip); keep a margin
MAX_BATCH_EVENTS = 1000
REVENUE_CHANNEL = "__analytics"
PROPERTY_TYPES = (str, int, float, bool, type(None))

ErrorHandler = Callable[[TrackhouseError, dict[str, Any] | None], None]


class NetworkError(TrackhouseError):
    """The request did not get an answer (connection refused, reset, ...)."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | NetworkError):
        return True
    return isinstance(exc, ApiError) and (exc.status_code == 429 or (exc.status_code or 0) >= 500)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _log_error(error: TrackhouseError, event: dict[str, Any] | None) -> None:
    name = event.get("event") or event.get("type") if event else None
    log.error("trackhouse: event %s not delivered: %r", name, error)


class Client:
    """A Trackhouse client. ``key`` defaults to ``$TRACKHOUSE_KEY`` (required)."""

    def __init__(
        self,
        key: str | None = None,
        host: str = "http://127.0.0.1:8000",
        *,
        batch_size: int = 100,
        flush_interval: float = 0.5,
        max_queue_size: int = 10_000,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        gzip: bool = True,
        sync: bool = False,
        on_error: ErrorHandler | None = None,
        transport: httpx.BaseTransport | None = None,
        event_prefix: str = "",
    ) -> None:
        key = key or os.environ.get("TRACKHOUSE_KEY")
        if not key:
            raise ValidationError("no write key: pass key= or set TRACKHOUSE_KEY", "key")
        if not 1 <= batch_size <= MAX_BATCH_EVENTS:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH_EVENTS}")
        self.key = key
        self.event_prefix = event_prefix  # e.g. "app." as AscendKit's SDK prepends
        self.host = host.rstrip("/")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_retries = max_retries
        self.gzip = gzip
        self.sync = sync
        self.on_error: ErrorHandler = on_error or _log_error
        self.dropped = 0
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={
                "X-API-Key": key,
                "Content-Type": "application/json",
                "User-Agent": f"trackhouse-python/{VERSION}",
            },
        )
        self._queue: queue.Queue[bytes] = queue.Queue(max_queue_size)
        self._carry: bytes | None = None
        self._urgent = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        if not sync:
            self._thread = threading.Thread(target=self._run, name="trackhouse-sdk", daemon=True)
            self._thread.start()
            atexit.register(self.shutdown)

    # -- public API ----------------------------------------------------------------------------

    def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        visitor_id: str | None = None,
        channel: str | None = None,
        timestamp: datetime | int | None = None,
        context: Mapping[str, Any] | None = None,
        icon: str | None = None,
        notify: bool = False,
        description: str | None = None,
        message_id: str | None = None,
    ) -> Any:
        """Record ``event``. Returns its ``message_id`` (``None`` if dropped), or with
        ``sync=True`` the server's answer ``{id, event, timestamp}``."""
        if not isinstance(event, str) or not event:
            raise ValidationError("track needs an event name", "event")
        if self.event_prefix and not event.startswith(self.event_prefix):
            event = self.event_prefix + event
        return self._enqueue(
            {
                "type": "track",
                "event": event,
                "channel": channel,
                "user_id": user_id,
                "visitor_id": visitor_id,
                "timestamp": timestamp,
                "message_id": message_id,
                "properties": properties,
                "context": context,
                "icon": icon,
                "notify": notify or None,
                "description": description,
            }
        )

    def identify(
        self,
        user_id: str,
        traits: Mapping[str, Any] | None = None,
        visitor_id: str | None = None,
        *,
        timestamp: datetime | int | None = None,
        message_id: str | None = None,
    ) -> Any:
        """Name the user; with ``visitor_id`` the visitor's earlier events become the user's."""
        if not isinstance(user_id, str) or not user_id:
            raise ValidationError("identify needs a user_id", "user_id")
        return self._enqueue(
            {
                "type": "identify",
                "user_id": user_id,
                "visitor_id": visitor_id,
                "traits": dict(traits) if traits else None,
                "timestamp": timestamp,
                "message_id": message_id,
            }
        )

    def page(
        self,
        url: str | None = None,
        *,
        title: str | None = None,
        referrer: str | None = None,
        path: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        visitor_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | int | None = None,
        message_id: str | None = None,
    ) -> Any:
        """A page view (event ``pageview`` unless ``name`` is given)."""
        page = {"url": url, "title": title, "referrer": referrer, "path": path}
        page = {k: v for k, v in page.items() if v is not None}
        ctx = dict(context or {})
        if page:
            ctx["page"] = {**ctx.get("page", {}), **page}
        return self._enqueue(
            {
                "type": "page",
                "event": name,
                "user_id": user_id,
                "visitor_id": visitor_id,
                "properties": properties,
                "context": ctx or None,
                "timestamp": timestamp,
                "message_id": message_id,
            }
        )

    def revenue(
        self,
        amount: float,
        currency: str,
        *,
        order_id: str | None = None,
        product_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        event: str = "revenue",
        user_id: str | None = None,
        visitor_id: str | None = None,
        timestamp: datetime | int | None = None,
        message_id: str | None = None,
    ) -> Any:
        """A revenue event (Kitbase's ``trackRevenue``): a track on channel ``__analytics``
        with ``amount``, ``currency``, ``orderId`` and ``productId`` properties."""
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ValidationError("amount must be a number", "properties.amount")
        if not isinstance(currency, str) or not currency:
            raise ValidationError("currency is required (e.g. 'USD')", "properties.currency")
        props = {**(properties or {}), "amount": amount, "currency": currency.upper()}
        if order_id is not None:
            props["orderId"] = order_id
        if product_id is not None:
            props["productId"] = product_id
        return self.track(
            event,
            props,
            channel=REVENUE_CHANNEL,
            user_id=user_id,
            visitor_id=visitor_id,
            timestamp=timestamp,
            message_id=message_id,
        )

    def capture_event(self, data: Mapping[str, Any], from_user_id: str | None = None) -> Any:
        """AnalyticsKit's ``captureEvent`` (see ``trackhouse_sdk.analyticskit``)."""
        from trackhouse_sdk.analyticskit import to_track_kwargs

        return self.track(**to_track_kwargs(data, from_user_id))

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; wait until sent (or given up). False on timeout."""
        if self.sync or self._thread is None:
            return True
        with self._lock:
            self._urgent += 1
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._queue.all_tasks_done:
                while self._queue.unfinished_tasks:
                    if not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._queue.all_tasks_done.wait(
                        0.1 if remaining is None else min(0.1, remaining)
                    )
            return True
        finally:
            with self._lock:
                self._urgent -= 1

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, stop the sender thread and close the connection. Later calls raise."""
        if self._closed:
            return True
        done = self.flush(timeout)
        self._closed = True
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            atexit.unregister(self.shutdown)
        self._http.close()
        return done

    close = shutdown

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()

    # -- building and queueing -----------------------------------------------------------------

    def _enqueue(self, fields: dict[str, Any]) -> Any:
        if self._closed:
            raise TrackhouseError("the client is shut down")
        event = _clean(fields)
        body = _encode(event)
        if self.sync:
            return self._post("/v1/events", body)
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "trackhouse: queue full (%d events), dropped %d so far",
                    self._queue.maxsize,
                    self.dropped,
                )
            return None
        return event["message_id"]

    # -- the sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty() and self._carry is None):
            batch = self._next_batch()
            if batch:
                try:
                    self._send_batch(batch)
                finally:
                    for _ in batch:
                        self._queue.task_done()

    def _take(self, timeout: float) -> bytes | None:
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _next_batch(self) -> list[bytes]:
        first = self._take(0.05)
        if first is None:
            return []
        batch, size = [first], len(first) + 16
        deadline = time.monotonic() + self.flush_interval
        while len(batch) < self.batch_size:
            hurry = self._urgent > 0 or self._stopping.is_set()
            remaining = deadline - time.monotonic()
            if not hurry and remaining <= 0:
                break
            item = self._take(0 if hurry else min(remaining, 0.05))
            if item is None:
                if hurry:
                    break
                continue
            if size + len(item) + 1 > MAX_BATCH_BYTES:
                self._carry = item  # it opens the next batch (already taken off the queue)
                break
            batch.append(item)
            size += len(item) + 1
        return batch

    def _send_batch(self, batch: list[bytes]) -> None:
        body = b'{"events":[' + b",".join(batch) + b"]}"
        try:
            answer = self._post("/v1/batch", body)
        except TrackhouseError as error:
            events = [json.loads(item) for item in batch]
            log.warning("trackhouse: batch of %d events not delivered: %r", len(batch), error)
            for event in events:
                self._report(error, event)
            return
        for item in answer.get("errors", []) if isinstance(answer, dict) else []:
            index = item.get("index", -1)
            event = json.loads(batch[index]) if 0 <= index < len(batch) else None
            status = 413 if item.get("error") == "payload_too_large" else 422
            self._report(from_response(status, item), event)

    def _report(self, error: TrackhouseError, event: dict[str, Any] | None) -> None:
        try:
            self.on_error(error, event)
        except Exception:
            log.exception("trackhouse: on_error failed")

    # -- HTTP ----------------------------------------------------------------------------------

    def _wait_backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter after the ``attempt``-th try (1, 2, ...):
        uniform in [0, min(backoff_max, backoff_base * 2 ** (attempt - 1))]."""
        return random.uniform(0, min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1)))

    def _wait(self, error: TrackhouseError, attempt: int) -> float:
        after = getattr(error, "retry_after", None)
        if after is not None:
            return min(after, self._backoff_max)
        return self._wait_backoff(attempt)

    def _post(self, path: str, body: bytes) -> Any:
        """POST with retries: 5xx, 429, timeouts and network errors, up to ``max_retries``
        times, after ``Retry-After`` or the backoff; other errors are raised at once."""
        headers = {}
        if self.gzip:
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post_once(path, body, headers)
            except TrackhouseError as error:
                if attempt > self.max_retries or not _retryable(error):
                    raise
                time.sleep(self._wait(error, attempt))

    def _post_once(self, path: str, body: bytes, headers: dict[str, str]) -> Any:
        try:
            response = self._http.post(self.host + path, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"{path}: request timed out ({exc})") from exc
        except httpx.TransportError as exc:
            raise NetworkError(f"{path}: {type(exc).__name__}: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        if response.status_code >= 400:
            error = from_response(response.status_code, answer)
            error.retry_after = _retry_after(response.headers.get("retry-after"))
            raise error
        return answer


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The event as the API takes it: ``None`` fields dropped, checked, stamped."""
    event = {k: v for k, v in fields.items() if v is not None and v != {}}
    if not event.get("visitor_id") and not event.get("user_id"):
        raise ValidationError("an event needs a visitor_id or a user_id", "visitor_id")
    for key, value in (event.get("properties") or {}).items():
        if not isinstance(key, str) or not isinstance(value, PROPERTY_TYPES):
            raise ValidationError(
                "properties are flat: string, number, boolean or null values",
                f"properties.{key}",
            )
    if "properties" in event:
        event["properties"] = dict(event["properties"])
    if "context" in event:
        event["context"] = dict(event["context"])
    stamp = event.get("timestamp")
    if isinstance(stamp, datetime):
        event["timestamp"] = stamp.isoformat()
    elif stamp is None:
        event["timestamp"] = int(time.time() * 1000)
    event.setdefault("message_id", uuid.uuid4().hex)
    return event


def _json_default(value: Any) -> Any:
    """Values JSON has no type for, as ISO text (dates) or strings (UUIDs)."""
    if isinstance(value, date | dt_time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _encode(event: dict[str, Any]) -> bytes:
    try:
        body = json.dumps(
            event, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
        ).encode()
    except (TypeError, ValueError) as exc:  # also NaN, a lone surrogate
        raise ValidationError(f"the event is not JSON-serialisable: {exc}") from None
    if len(body) > MAX_EVENT_BYTES:
        raise ValidationError(
            f"the event is {len(body)} bytes; the limit is {MAX_EVENT_BYTES}",
            error="payload_too_large",
        )
    return body
