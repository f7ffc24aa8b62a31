"""Notification benchmark: a real ``trackhouse serve`` delivering ``notify: true`` events to a
local webhook receiver (a lean raw-asyncio server in a process of its own).

Offers ``--rate`` notify events/s for ``--seconds`` (batches of ``--batch``), and prints the
events accepted, the deliveries received, and p50/p99/max from ``POST`` to the receiver having
the event (each event carries its send time in ``properties.sent_at``). The target (issue 21):
p99 <= 2 s at 5,000 events/s on 2 cores.

    python bench/bench_notify.py --seconds 30 --rate 5000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import httptools
import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.server import Server, cli, free_port  # noqa: E402


class Receiver(asyncio.Protocol):
    """The webhook, as cheap as a remote receiver would be to us: raw asyncio + httptools on
    uvloop, in a process of its own (it shares the machine's cores with the server). Notes each
    event's delay from its send time (first delivery only) and answers 200 at once."""

    delays: dict[str, float] = {}
    requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        now = time.time()
        event = orjson.loads(b"".join(self.body))["event"]
        self.body.clear()
        Receiver.requests += 1
        Receiver.delays.setdefault(event["event_id"], now - event["properties"]["sent_at"])
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # type: ignore[attr-defined]


def receive(port: int, results: Connection) -> None:
    """The receiver process: serves, answers "count" (events received) and "report" (the
    delays, the number of requests and its CPU seconds, then it stops)."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Receiver, "127.0.0.1", port)
        results.send("ready")
        while await loop.run_in_executor(None, results.recv) == "count":
            results.send(len(Receiver.delays))
        results.send((Receiver.delays, Receiver.requests, time.process_time()))
        server.close()

    uvloop.run(serve())


class ReceiverProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self._results, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=receive, args=(self.port, child), daemon=True
        )

    def start(self) -> ReceiverProcess:
        self._process.start()
        assert self._results.recv() == "ready"
        return self

    def report(self) -> tuple[dict[str, float], int, float]:
        """The delays by event id, the number of requests, and the receiver's CPU seconds
        (then it stops)."""
        self._results.send("report")
        return self._results.recv()

    def stop(self) -> None:
        self._process.kill()

    def count(self) -> int:
        """How many distinct events arrived so far."""
        self._results.send("count")
        return self._results.recv()


async def offer(
    url: str, key: str, rate: int, seconds: float, batch: int, refused: Counter[int]
) -> int:
    """Send ``rate`` events/s for ``seconds``; returns how many were accepted (``refused``
    counts the batches answered otherwise, by status)."""
    accepted, counter = 0, itertools.count()
    interval = batch / rate
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as client:
        start = time.monotonic()
        pending: set[asyncio.Task] = set()

        async def post(body: bytes) -> None:
            nonlocal accepted
            async with client.post(f"{url}/v1/batch", data=body, headers=headers) as answer:
                if answer.status == 202:
                    accepted += (await answer.json())["accepted"]
                else:
                    refused[answer.status] += 1

        for tick in itertools.count():
            due = start + tick * interval
            if due - start >= seconds:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent_at = time.time()
            events = [
                {"event": "paid", "visitor_id": f"v{n % 5000}", "notify": True,
                 "channel": "bench", "properties": {"sent_at": sent_at, "n": n}}
                for n in itertools.islice(counter, batch)
            ]  # fmt: skip
            task = asyncio.create_task(post(orjson.dumps({"events": events})))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    return accepted


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of the server's processes so far, by role: the edge, the
    storage process (its child), the delivery process (the storage process's child)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}

    def walk(pid: int, roles: tuple[str, ...]) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = [
                child
                for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]  # a child belongs to the thread that started it
            spawned = "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        except OSError:  # gone
            return
        if roles and (spawned or roles[0] == "edge"):
            out[roles[0]] = (int(fields[11]) + int(fields[12])) / ticks
            roles = roles[1:]
        for child in children:
            walk(int(child), roles)

    walk(pid, ("edge", "storage", "delivery"))
    return out


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else 0.0


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-notify-")) / "data"
    project = cli(data_dir, "projects", "create", "bench")
    receiver = ReceiverProcess().start()
    cli(data_dir, "notify", "destinations", "add", project["project_id"], "--kind", "webhook",
        "--url", f"http://127.0.0.1:{receiver.port}/hook")  # fmt: skip
    env = {"TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "0", "TRACKHOUSE_LOG_LEVEL": "warning"}
    server = Server(data_dir, env=env).start()
    try:
        await asyncio.sleep(2)  # the delivery process starts
        cpu_before = cpu_seconds(server.process.pid)  # type: ignore[union-attr]
        refused: Counter[int] = Counter()
        accepted = await offer(
            server.url, project["write_key"], args.rate, args.seconds, args.batch, refused
        )
        deadline = time.monotonic() + args.drain
        while receiver.count() < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        cpu = cpu_seconds(server.process.pid)  # type: ignore[union-attr]
        received, requests, receiver_cpu = receiver.report()
    finally:
        server.stop()
        receiver.stop()
    delays = sorted(received.values())
    print(f"offered {args.rate} notify events/s for {args.seconds:g} s (batches of {args.batch})")
    print(
        f"accepted {accepted}, delivered {len(delays)} ({requests} requests)"
        + (f"; batches refused by status: {dict(refused)}" if refused else "")
    )
    if delays:
        print(
            f"POST -> webhook: p50 {quantile(delays, 0.5):.3f} s, p99 {quantile(delays, 0.99):.3f}"
            f" s, max {delays[-1]:.3f} s (target p99 <= 2 s)"
        )
    used = {role: cpu[role] - cpu_before.get(role, 0.0) for role in cpu}
    print(
        "server CPU: "
        + ", ".join(f"{role} {seconds:.1f} s" for role, seconds in used.items())
        + f" (receiver {receiver_cpu:.1f} s, bench sender {time.process_time():.1f} s)"
        + (f"; delivery {used['delivery'] / requests * 1e6:.0f} us per request" if requests
           and "delivery" in used else "")
    )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--drain", type=float, default=60, help="wait this long for the rest")
    asyncio.run(main(parser.parse_args()))
