"""Start and stop a real ``trackhouse serve`` process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process_worker(data_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    """A ``trackhouse worker --role process`` (no ClickHouse, no API) in its own data dir,
    logging to ``worker.log`` there."""
    data_dir.mkdir(parents=True)
    with open(data_dir / "worker.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker", "--role", "process"],
            env={**os.environ, **env, "TRACKHOUSE_DATA_DIR": str(data_dir)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``trackhouse ARGS`` and parse its JSON output."""
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return orjson.loads(out.stdout)


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    command: tuple[str, ...] = ("serve",)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Server:
        self.log_path = self.data_dir.parent / f"server-{self.port}-{time.time_ns()}.log"
        env = {
            **os.environ,
            "TRACKHOUSE_PORT": str(self.port),
            "TRACKHOUSE_DATA_DIR": str(self.data_dir),
            "TRACKHOUSE_BOOTSTRAP_PROJECT": "",
            "TRACKHOUSE_TRUSTED_PROXIES": "127.0.0.1",
            "TRACKHOUSE_SINK_FLUSH_SECONDS": "0.2",
            **self.env,
        }
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", *self.command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server did not come up:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """``kill -9``: no chance to flush anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM: drain and flush. Returns 0 for a clean exit (uvicorn re-raises the SIGTERM
        it handled once it has shut down, so the process ends by that signal)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(90)
        code = self.process.returncode
        return 0 if code == -signal.SIGTERM and "processor.stopped" in self.log() else code


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def urllib_post(url: str, body: Any, key: str) -> tuple[int, dict[str, Any]]:
    """A POST as a backend using only the standard library sends it (``Python-urllib/3.x``)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json",
                                                      "X-API-Key": key}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())
