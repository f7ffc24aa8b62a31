"""What the integration tests share: the read and write API of a running server, user agents,
and files on disk. Test modules import from here (never from each other)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.integration.server import Server, wait_for

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def key_headers(project) -> dict[str, str]:
    """The public write key: sends events."""
    return {"X-API-Key": project["write_key"]}


def read_headers(project) -> dict[str, str]:
    """The secret key: also reads."""
    return {"X-API-Key": project["secret_key"]}


def fetch(server: Server, project, path: str = "/v1/events", **params):
    response = httpx.get(server.url + path, params=params, headers=read_headers(project))
    assert response.status_code == 200, response.text
    return response.json()


def wait_rows(server, project, count, path="/v1/events", timeout=30, **params):
    """Poll the read API until at least ``count`` rows are listed; returns them."""
    key = "sessions" if path.endswith("sessions") else "events"
    body = wait_for(
        lambda: len((b := fetch(server, project, path, **params))[key]) >= count and b, timeout
    )
    assert body, f"fewer than {count} rows for {params}: {fetch(server, project, path, **params)}"
    return body[key]


def post_batch(server, project, events, headers=None):
    response = httpx.post(
        f"{server.url}/v1/batch",
        json={"events": events},
        headers={**key_headers(project), **(headers or {})},
    )
    return response


def ingestion_warnings(server, project, **params):
    """GET /v1/ingestion_warnings (the secret key): the warnings listed."""
    response = httpx.get(
        f"{server.url}/v1/ingestion_warnings", params=params, headers=read_headers(project)
    )
    assert response.status_code == 200, response.text
    return response.json()["warnings"]


def files_containing(data_dir: Path, *needles: str) -> list[str]:
    """Every file under ``data_dir`` whose bytes contain one of ``needles`` (binary-safe)."""
    found = []
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            path = Path(root) / name
            try:
                data = path.read_bytes()
            except OSError:  # a lock or socket
                continue
            found += [f"{path} ({n})" for n in needles if n.encode() in data]
    return found


ADMIN_TOKEN = "test-admin-token"
NOTIFY_ENV = {  # short retry waits and quick reloads, so tests do not wait minutes
    "TRACKHOUSE_ADMIN_TOKEN": ADMIN_TOKEN,
    "TRACKHOUSE_NOTIFY_RETRY_BASE_SECONDS": "0.2",
    "TRACKHOUSE_NOTIFY_RETRY_MAX_SECONDS": "1",
    "TRACKHOUSE_NOTIFY_RELOAD_SECONDS": "0.3",
    "TRACKHOUSE_NOTIFY_THRESHOLD_CHECK_SECONDS": "0.5",
}


def admin(server: Server, method: str, path: str, **kwargs) -> httpx.Response:
    """An admin API call (``/admin/v1`` + ``path``) with the tests' admin token."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return httpx.request(method, f"{server.url}/admin/v1{path}", headers=headers, **kwargs)


class Receiver:
    """``tests/integration/notify_receiver.py`` as a process: a webhook receiver that logs
    every request (``requests``), and can be killed and started again on its port."""

    def __init__(self, directory: Path, secret: str = "", *options: str) -> None:
        from tests.integration.server import free_port

        self.port = free_port()
        self.log = directory / f"receiver-{self.port}.jsonl"
        self.secret = secret
        self.options = options
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.notify_receiver", str(self.port),
             str(self.log), self.secret, *self.options],
        )  # fmt: skip
        assert wait_for(self._answers, 20), "the receiver did not start"
        return self

    def _answers(self) -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{self.port}/", timeout=0.5)
            return True
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def requests(self) -> list[dict]:
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def delivered(self) -> list[dict]:
        """The requests answered 2xx."""
        return [r for r in self.requests() if r["status"] < 300]


def spawned_children(pid: int) -> list[int]:
    """The multiprocessing children of a process (any of its threads may have started them):
    a server's storage process; the storage process's delivery process."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended
            continue
        for child in children:
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except OSError:  # the child ended
                continue
    return found


def delivery_pid(server: Server) -> int | None:
    """The embedded server's delivery process (the storage process's child), if it runs."""
    assert server.process is not None
    for storage in spawned_children(server.process.pid):
        for child in spawned_children(storage):
            return child
    return None


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class StreamReader:
    """``GET /v1/stream`` read in a thread: ``events`` collects ``(id, data)`` as they come,
    with the monotonic time each arrived (``arrived``)."""

    def __init__(self, url: str, params: dict | None = None, headers: dict | None = None):
        import threading

        self.url, self.params, self.headers = url, params or {}, headers or {}
        self.events: list[tuple[str, dict]] = []
        self.arrived: dict[str, float] = {}
        self.status = 0
        self._stop = threading.Event()
        self._answer: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_for(lambda: self.status, 20)

    def _read(self) -> None:
        import contextlib

        with contextlib.suppress(httpx.HTTPError, RuntimeError, AttributeError):
            self._read_events()

    def _read_events(self) -> None:
        import json
        import time

        with (
            httpx.Client(timeout=httpx.Timeout(30, read=60)) as client,
            client.stream("GET", self.url, params=self.params, headers=self.headers) as answer,
        ):
            self._answer = answer
            self.status = answer.status_code
            if answer.status_code != 200:
                return
            event_id, data = "", ""
            for line in answer.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    document = json.loads(data)
                    self.arrived.setdefault(document["id"], time.monotonic())
                    self.events.append((event_id, document))
                    event_id, data = "", ""

    def ids(self) -> set[str]:
        return {document["id"] for _, document in self.events}

    def close(self) -> None:
        """Hang up."""
        import contextlib
        import socket

        self._stop.set()
        if self._answer is not None:
            stream = self._answer.extensions["network_stream"]
            with contextlib.suppress(OSError):
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
