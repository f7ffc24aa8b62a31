"""``trackhouse sql`` on a real embedded ClickHouse: a table at a terminal, JSON in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import orjson

STATEMENT = "SELECT number AS n, toString(number * 2) AS twice FROM numbers(3)"


def test_a_terminal_gets_a_table_and_a_pipe_gets_json(tmp_path):
    command = [sys.executable, "-m", "pipeline.cli", "sql", STATEMENT, "--data-dir", str(tmp_path)]
    env = {**os.environ, "TRACKHOUSE_LOG_LEVEL": "warning"}
    piped = subprocess.run(command, env=env, capture_output=True, check=True, timeout=120)
    assert orjson.loads(piped.stdout) == {
        "columns": ["n", "twice"],
        "rows": [[0, "0"], [1, "2"], [2, "4"]],
    }

    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdout=follower, stderr=subprocess.DEVNULL)
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
    assert process.wait(timeout=120) == 0
    os.close(leader)
    table = b"".join(chunks).decode()
    assert "│" in table and "twice" in table and "3 rows" in table, table
    assert not table.lstrip().startswith("{")
