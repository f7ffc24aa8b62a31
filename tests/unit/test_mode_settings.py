"""Settings that do nothing in a mode are warned about at startup, naming setting and mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from pipeline.mode_settings import IGNORED, ignored_settings, warn_ignored
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Code that runs only in one mode: a setting said to do nothing there is never read there.
MODE_CODE = {
    "embedded": ["pipeline/runtime/embedded.py", "pipeline/runtime/owner.py"],
    "kafka-worker": [
        "pipeline/runtime/faust_app.py",
        "pipeline/runtime/faust_process.py",
        "pipeline/runtime/faust_sink.py",
    ],
    "kafka-edge": ["pipeline/kafka/publisher.py"],
}


def test_a_kafka_worker_warns_about_the_embedded_sink_batch_size(monkeypatch):
    monkeypatch.setenv("TRACKHOUSE_SINK_BATCH_SIZE", "20000")
    monkeypatch.setenv("TRACKHOUSE_SINK_FLUSH_SECONDS", "0.5")  # used by both: no warning
    with capture_logs() as logs:
        names = warn_ignored(Settings(), "kafka-worker")
    assert names == ["TRACKHOUSE_SINK_BATCH_SIZE"]
    assert logs == [
        {
            "event": "settings.ignored",
            "log_level": "warning",
            "mode": "kafka-worker",
            "settings": ["TRACKHOUSE_SINK_BATCH_SIZE"],
            "effect": "none in this mode",
        }
    ]


def test_defaults_and_used_settings_are_not_reported():
    with capture_logs() as logs:
        assert warn_ignored(Settings(), "embedded") == []
        assert warn_ignored(Settings(sink_batch_size=5, port=1), "embedded") == []
    assert logs == []


def test_the_embedded_runtime_reports_kafka_and_faust_settings():
    settings = Settings(faust_store="memory://", kafka_bootstrap="k:9092", sink_batch_size=5)
    assert ignored_settings(settings, "embedded") == [
        "TRACKHOUSE_FAUST_STORE",
        "TRACKHOUSE_KAFKA_BOOTSTRAP",
    ]


@pytest.mark.parametrize("mode", sorted(IGNORED))
def test_every_ignored_name_is_a_setting_not_read_by_that_modes_code(mode):
    assert IGNORED[mode] <= set(Settings.model_fields), IGNORED[mode] - set(Settings.model_fields)
    for path in MODE_CODE[mode]:
        text = (ROOT / path).read_text()
        read = {name for name in IGNORED[mode] if re.search(rf"settings\.{name}\b", text)}
        assert not read, (mode, path, read)


def test_the_edge_command_logs_the_warning(tmp_path):
    env = {
        **os.environ,
        "TRACKHOUSE_SINK_BATCH_SIZE": "20000",
        "TRACKHOUSE_FAUST_STORE": "rocksdb://",
        "TRACKHOUSE_CLICKHOUSE_URL": "",
        "TRACKHOUSE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "edge", "--bootstrap", "127.0.0.1:1"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1  # no ClickHouse server configured: refused after the warning
    lines = [orjson.loads(line) for line in done.stderr.splitlines() if line.startswith(b"{")]
    [warning] = [line for line in lines if line["event"] == "settings.ignored"]
    assert warning["mode"] == "kafka-edge"
    assert warning["settings"] == ["TRACKHOUSE_FAUST_STORE", "TRACKHOUSE_SINK_BATCH_SIZE"]
