"""The Faust worker's process glue: Faust's log levels, the ``faust.Worker`` subclass that
keeps one log format, and the HTTP API served inside the worker's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import structlog

from pipeline.log_config import route_stdlib
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

FAUST_LOG_LEVELS = {"critical": "crit", "warning": "warn", "fatal": "crit"}


def faust_loglevel(level: str) -> str:
    """Our log level names -> Faust's (crit|error|warn|info|debug)."""
    level = level.lower()
    return FAUST_LOG_LEVELS.get(level, level if level in {"error", "info", "debug"} else "info")


class Worker(faust.Worker):
    """``faust.Worker`` that keeps the root logger at the requested level: Faust sets it to
    DEBUG (for its spinner) and filters in the handlers, so every ``log.debug`` in aiokafka's
    per-message paths built a record only to drop it. Faust's, mode's and aiokafka's records
    go through our handler (``log_config.route_stdlib``): the same format as our own lines."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        logger.setLevel(level or logging.WARNING)
        route_stdlib(logger)  # mode put a plain-text stdout handler there: ours, one format


class HttpApi:
    """The HTTP API (``create_app``) served by uvicorn inside the worker's event loop.

    A mode ``Service`` so the Faust worker starts and stops it with the app; uvicorn's own
    signal handling is disabled (the Faust worker owns SIGTERM/SIGINT)."""

    @staticmethod
    def service(
        settings: Settings,
        on_start: Callable[[], Awaitable[Any]],
        on_stop: Callable[[], Awaitable[None]],
        options: dict[str, Any],
    ) -> Any:
        """``on_start`` runs in the worker's loop and returns the ASGI app to serve;
        ``options`` are the edge's ``uvicorn.Config`` keywords (``edge.http_server``)."""
        import mode
        import uvicorn

        host, port = settings.host, settings.port

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # type: ignore[override]
                yield

        class _HttpService(mode.Service):
            server: _Server | None = None
            task: asyncio.Task | None = None

            async def on_start(self) -> None:
                asgi = await on_start()
                config = uvicorn.Config(
                    asgi,
                    host=host,
                    port=port,
                    lifespan="off",
                    timeout_graceful_shutdown=10,
                    **options,
                )
                self.server = _Server(config)
                self.task = asyncio.ensure_future(self.server.serve())
                while not self.server.started:
                    if self.task.done():
                        self.task.result()  # raises why it could not start
                        raise RuntimeError("the HTTP server stopped at start-up")
                    await asyncio.sleep(0.05)
                log.info("worker.http_listening", url=f"http://{host}:{port}")

            async def on_stop(self) -> None:
                if self.server is not None and self.task is not None:
                    self.server.should_exit = True
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self.task, 15)
                await on_stop()

        return _HttpService()
