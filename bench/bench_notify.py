"""Notification benchmark: a real ``trackhouse serve`` delivering ``notify: true`` events to a
local webhook receiver (in this process, aiohttp).

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
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.server import Server, cli, free_port  # noqa: E402


class Receiver:
    """The webhook: notes each event's delay from its send time (first delivery only)."""

    def __init__(self) -> None:
        self.delays: dict[str, float] = {}
        self.requests = 0
        self.port = free_port()

    async def receive(self, request: web.Request) -> web.Response:
        now = time.time()
        body = orjson.loads(await request.read())
        self.requests += 1
        event = body["event"]
        self.delays.setdefault(event["event_id"], now - event["properties"]["sent_at"])
        return web.Response(text="ok")

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", self.receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return runner


async def offer(url: str, key: str, rate: int, seconds: float, batch: int) -> int:
    """Send ``rate`` events/s for ``seconds``; returns how many were accepted."""
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


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else 0.0


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-notify-")) / "data"
    project = cli(data_dir, "projects", "create", "bench")
    receiver = Receiver()
    cli(data_dir, "notify", "destinations", "add", project["project_id"], "--kind", "webhook",
        "--url", f"http://127.0.0.1:{receiver.port}/hook")  # fmt: skip
    runner = await receiver.start()
    env = {"TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "0", "TRACKHOUSE_LOG_LEVEL": "warning"}
    server = Server(data_dir, env=env).start()
    try:
        accepted = await offer(
            server.url, project["write_key"], args.rate, args.seconds, args.batch
        )
        deadline = time.monotonic() + args.drain
        while len(receiver.delays) < accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        server.stop()
        await runner.cleanup()
    delays = sorted(receiver.delays.values())
    print(f"offered {args.rate} notify events/s for {args.seconds:g} s (batches of {args.batch})")
    print(f"accepted {accepted}, delivered {len(delays)} ({receiver.requests} requests)")
    if delays:
        print(
            f"POST -> webhook: p50 {quantile(delays, 0.5):.3f} s, p99 {quantile(delays, 0.99):.3f}"
            f" s, max {delays[-1]:.3f} s (target p99 <= 2 s)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--drain", type=float, default=60, help="wait this long for the rest")
    asyncio.run(main(parser.parse_args()))
