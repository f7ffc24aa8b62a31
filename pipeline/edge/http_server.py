"""How uvicorn serves the edge (``trackhouse serve``, ``edge`` and the worker's API alike).

uvicorn 0.54 bounds neither how long a client may take to send a request nor how large its
head may be (with httptools), so a slow or hostile client could hold connections and memory
forever. ``GuardedHttpToolsProtocol`` adds, per request:

- the request line and headers must arrive within ``http_header_timeout_seconds`` (from the
  connection, or the request's first byte): else ``408`` and the connection is closed;
- the body must arrive within ``http_body_timeout_seconds`` after the headers: else ``408``
  (or, once the answer has started, just the close);
- request line + headers larger than ``http_max_header_bytes``: ``431`` and close.

An idle kept-alive connection stays open ``http_keep_alive_seconds`` (75 s), not uvicorn's 5 s:
a client polling every 5 s, as the dashboard does, would otherwise send on a connection the
moment the edge closes it and get a reset.

uvicorn's own ``X-Forwarded-For`` handling is off: the edge reads it only from
``TRACKHOUSE_TRUSTED_PROXIES`` (``pipeline.edge.client``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from pipeline.settings import Settings


class _Refused(Exception):
    """Stops the parser once the request was answered here."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request read deadlines and a head size cap."""

    header_timeout = 10.0
    body_timeout = 30.0
    max_head_bytes = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._in_head = True  # between requests, or reading one's line and headers
        self._head_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes and not self._refused:
            self._refuse(431, "request line and headers too large")

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a request refused here was answered already
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self._refuse(431, "request line and headers too large")
            raise _Refused
        self._arm(self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._in_head and cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # pipelined: close once the answer in progress is sent
        elif not self._in_head and cycle is not None and cycle.response_started:
            self.transport.close()  # answered before the body was in: nothing more to say
        else:
            what = "headers" if self._in_head else "body"
            self._refuse(408, f"request {what} not received in time")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` (plain text) and close the connection."""
        self._refused = True
        self._disarm()
        body = message.encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def guarded_protocol(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with the settings' limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout": settings.http_header_timeout_seconds,
            "body_timeout": settings.http_body_timeout_seconds,
            "max_head_bytes": settings.http_max_header_bytes,
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """``uvicorn.Config`` keywords every edge server uses."""
    return {
        "http": guarded_protocol(settings),
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "proxy_headers": False,  # X-Forwarded-For only from TRACKHOUSE_TRUSTED_PROXIES
        # each request starts from an empty context: a pipelined request's task would otherwise
        # inherit the previous one's (its API key, the rate limit's bucket: see Edge.accept)
        "reset_contextvars": True,
        "access_log": False,  # it would log client IPs
        "log_config": None,
    }
