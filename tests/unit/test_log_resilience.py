"""A log line that cannot be written never fails the caller (a full disk under stderr)."""

from __future__ import annotations

import errno
import io
import logging
import sys

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


def test_a_library_log_line_to_a_closed_stream_is_dropped_not_reported(capsys):
    """E.g. after click's CliRunner closed the stderr that logging was configured with."""
    root = logging.getLogger()
    handlers, real_stderr = list(root.handlers), sys.stderr
    gone = io.StringIO()
    sys.stderr = gone
    try:
        configure_logging("info", json=True)
    finally:
        sys.stderr = real_stderr
    gone.close()
    try:
        logging.getLogger("aiokafka").warning("broker away")  # must not raise nor print
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
    assert "Logging error" not in capsys.readouterr().err
