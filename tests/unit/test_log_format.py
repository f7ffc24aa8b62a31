"""One log format per process: readable at a terminal, JSON lines otherwise or when asked
(``TRACKHOUSE_LOG_JSON``); stdlib loggers (aiokafka, Faust, mode) rendered like our own."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys

import faust
import orjson
import pytest

from pipeline.log_config import wants_json
from pipeline.runtime.faust_service import Worker
from pipeline.settings import Settings

SCRIPT = """
import logging, structlog
from pipeline.log_config import configure_logging
from pipeline.settings import Settings
settings = Settings()
configure_logging(settings.log_level, settings.log_json)
structlog.get_logger("ours").warning("ours.event", n=1)
logging.getLogger("aiokafka.conn").warning("broker %s away", "k1")
"""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_json_unless_stderr_is_a_terminal_and_the_setting_wins():
    assert wants_json(None, io.StringIO()) is True
    assert wants_json(None, _Tty()) is False
    assert wants_json(True, _Tty()) is True
    assert wants_json(False, io.StringIO()) is False


@pytest.mark.parametrize(("value", "expected"), [("", None), ("auto", None), ("0", False)])
def test_log_json_setting_is_tri_state(monkeypatch, value, expected):
    monkeypatch.setenv("TRACKHOUSE_LOG_JSON", value)
    assert Settings().log_json is expected
    monkeypatch.delenv("TRACKHOUSE_LOG_JSON")
    assert Settings().log_json is None


def _run(env: dict[str, str], tty: bool) -> str:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), **env}
    if not tty:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stderr=follower, stdout=subprocess.DEVNULL
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=60) == 0
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_pipe_gets_json_lines_from_our_loggers_and_the_libraries():
    lines = [orjson.loads(line) for line in _run({}, tty=False).splitlines()]
    ours, theirs = lines
    assert ours["event"] == "ours.event" and ours["level"] == "warning" and ours["n"] == 1
    assert theirs["event"] == "broker k1 away" and theirs["level"] == "warning"
    assert theirs["logger"] == "aiokafka.conn" and "timestamp" in theirs


def test_a_terminal_gets_readable_lines_from_both():
    out = _run({"TRACKHOUSE_LOG_JSON": ""}, tty=True)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 2, out
    assert not any(line.lstrip().startswith("{") for line in lines), out
    assert "ours.event" in lines[0] and "n=1" in lines[0]
    assert "broker k1 away" in lines[1] and "aiokafka.conn" in lines[1]


def test_asked_for_json_a_terminal_gets_json():
    out = _run({"TRACKHOUSE_LOG_JSON": "true"}, tty=True)
    assert [orjson.loads(line)["level"] for line in out.splitlines() if line.strip()] == [
        "warning",
        "warning",
    ]


def test_the_faust_worker_logs_through_our_handler_not_modes_stdout_one():
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        app = faust.App("log-format-test", broker="kafka://127.0.0.1:1", store="memory://")
        worker = Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False)
        worker._setup_logging()  # mode's setup_logging, then our on_setup_root_logger
        ours = [h for h in root.handlers if h.get_name() == "trackhouse"]
        assert len(ours) == 1
        assert all(
            h is ours[0] or type(h).__module__.startswith("_pytest") for h in root.handlers
        )
        assert isinstance(ours[0], logging.StreamHandler) and ours[0].stream is sys.stderr
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
