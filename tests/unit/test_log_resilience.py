"""A log line that cannot be written never fails the caller (a full disk under stderr)."""

from __future__ import annotations

import errno
import logging

import structlog

from pipeline.log_config import configure_logging


class FullDisk:
    def write(self, _text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_log_line_on_a_full_disk_is_dropped_not_raised(monkeypatch):
    handlers = list(logging.getLogger().handlers)
    monkeypatch.setattr("sys.stderr", FullDisk())
    configure_logging("info", json=True)
    try:
        log = structlog.get_logger("test.full_disk")
        log.error("spool.refusing", reason="disk full")  # must not raise
        log.info("still.running")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = handlers
