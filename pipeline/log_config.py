"""Structured logs on stderr: readable lines at a terminal, JSON lines otherwise (or as set by
``TRACKHOUSE_LOG_JSON``). Our structlog loggers and the stdlib loggers of the libraries (uvicorn,
aiokafka, Faust, mode) are rendered by the same processors, so a log has one format. No personal
data: never log IPs or bodies.

Repeated warnings and errors are rate-limited and summarised (``RepeatLimiter``): while Kafka is
away aiokafka, Faust and our own publish paths log the same failure many times a second (issue
16: 8 MB in a 15 s broker outage). Per message template (logger, level, message without its
arguments) the first record of a ``REPEAT_WINDOW_SECONDS`` window is written and the rest are
counted; the next record written after the window carries ``suppressed``: how many were left out.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from typing import Any

import structlog

REPEAT_WINDOW_SECONDS = 10.0


class RepeatLimiter:
    """Per key: one record a window is let through; the others are counted."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS, max_keys: int = 1024) -> None:
        self.window = window
        self.max_keys = max_keys
        self._seen: dict[Any, tuple[float, int]] = {}  # key -> (window start, suppressed)
        self._lock = threading.Lock()  # Faust's consumer thread logs too

    def admit(self, key: Any, now: float | None = None) -> int | None:
        """``None``: drop the record; else let it through, reporting how many were dropped
        since the last one let through."""
        now = time.monotonic() if now is None else now
        with self._lock:
            started, suppressed = self._seen.get(key, (None, 0))
            if started is not None and now - started < self.window:
                self._seen[key] = (started, suppressed + 1)
                return None
            if len(self._seen) >= self.max_keys and key not in self._seen:
                self._seen.clear()  # many distinct messages: start over rather than grow
            self._seen[key] = (now, 0)
            return suppressed


class RepeatFilter(logging.Filter):
    """The stdlib side (aiokafka, Faust, mode): WARNING and above are limited per
    (logger, level, message template); a summary goes into the next record let through."""

    def __init__(self, limiter: RepeatLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        suppressed = self.limiter.admit((record.name, record.levelno, str(record.msg)))
        if suppressed is None:
            return False
        if suppressed and not getattr(record, "trackhouse_summarised", False):
            record.msg = f"{record.msg} [{suppressed} more like this in the last %g s]"
            record.args = (*_args_tuple(record.args), self.limiter.window)
            record.trackhouse_summarised = True  # one record can pass several handlers
        return True


def _args_tuple(args: Any) -> tuple:
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


_LIMITER = RepeatLimiter()
_FILTER = RepeatFilter(_LIMITER)
_LIMITED_LEVELS = {"warning", "error", "critical"}


def limit_repeats(_: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """The structlog side: warnings and errors limited per (level, event name)."""
    if method not in _LIMITED_LEVELS:
        return event_dict
    suppressed = _LIMITER.admit((method, event_dict.get("event")))
    if suppressed is None:
        raise structlog.DropEvent
    if suppressed:
        event_dict["suppressed"] = suppressed
    return event_dict


def limit_stdlib_repeats(logger: logging.Logger | None = None) -> None:
    """Put the repeat filter on every handler of ``logger`` (the root by default): handler
    filters see the records of child loggers too. Call again after a framework (Faust)
    replaced the handlers."""
    for handler in (logger or logging.getLogger()).handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


class _ResilientPrintLogger(structlog.PrintLogger):
    """A log line that cannot be written (stderr on a full disk, a closed pipe) is dropped:
    logging must never turn a request's answer into a 500."""

    def msg(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().msg(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


class _ResilientPrintLoggerFactory:
    def __init__(self, file: Any) -> None:
        self._file = file

    def __call__(self, *_args: Any) -> _ResilientPrintLogger:
        return _ResilientPrintLogger(self._file)


def wants_json(setting: bool | None, stream: Any = None) -> bool:
    """``TRACKHOUSE_LOG_JSON`` when set, else JSON unless ``stream`` (stderr) is a terminal."""
    if setting is not None:
        return setting
    stream = sys.stderr if stream is None else stream
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return True


def _renderer(json: bool) -> Any:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


_HANDLER_NAME = "trackhouse"
_current: dict[str, Any] = {"json": True, "level": logging.WARNING}


class _ResilientStreamHandler(logging.StreamHandler):
    """As ``_ResilientPrintLogger``: a record that cannot be written (full disk, closed
    stream) is dropped silently; other errors (a bad format string) are reported as usual."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError | ValueError):
            return
        super().handleError(record)


def stdlib_handler() -> logging.Handler:
    """A stderr handler rendering stdlib records (``logger``, ``level``, ``event``,
    ``timestamp``) as our structlog lines do, with the repeat limiter on it."""
    handler = _ResilientStreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _renderer(_current["json"]),
            ],
        )
    )
    handler.addFilter(_FILTER)
    return handler


def route_stdlib(logger: logging.Logger | None = None) -> None:
    """Make ``logger`` (the root by default) write through our handler only. Call again after
    a framework installed handlers of its own (Faust/mode log plain text to stdout)."""
    logger = logger or logging.getLogger()
    logger.handlers[:] = [h for h in logger.handlers if _is_foreign_capture(h)]
    logger.addHandler(stdlib_handler())


def _is_foreign_capture(handler: logging.Handler) -> bool:
    """Handlers kept when routing: pytest's capture handlers (they write nowhere)."""
    return type(handler).__module__.startswith("_pytest")


def configure_logging(level: str = "info", json: bool | None = None) -> None:
    """structlog and the stdlib root logger; ``json=None``: JSON unless stderr is a terminal."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _current["json"] = json = wants_json(json)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            limit_repeats,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _renderer(json),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_ResilientPrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.setLevel(max(numeric, logging.WARNING))
    route_stdlib(root)
