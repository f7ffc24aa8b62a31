"""The live stream's poller (``pipeline.edge.stream.Feed``) on real chDB tables: arrival order,
each client's filters, paging past a full poll, stragglers stored late, catch-up from a
cursor. chDB allows one engine per process: the scenario runs in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import asyncio, sys, tempfile
sys.path.insert(0, {root!r})
import orjson
from pipeline.edge import stream
from pipeline.query.event_filters import build_query
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from tests.factories import enriched

stream.POLL_ROWS = 4  # pages of 4 rows: a poll finds more than a page
stream.LOOKBACK_MS = 60_000
clickhouse = ClickHouse("chdb://" + tempfile.mkdtemp(), "t")
clickhouse.migrate()

class Edge:
    database = "t"
    async def query(self, sql, parameters=None):
        return await asyncio.get_running_loop().run_in_executor(
            None, clickhouse.query, sql, dict(parameters or {{}}))

def store(names, received_at, channel="web", project="p"):
    events = [enriched(event=n, channel=channel, project_id=project, received_at=received_at + i)
              for i, n in enumerate(names)]
    clickhouse.insert(rows.event_block(events))

async def main():
    import time
    now = int(time.time() * 1000)
    store(["old"], now - 1000)  # stored before anyone listens: not news
    feed = stream.Feed(Edge(), "p", 0.05)
    every = stream.Client(build_query("p", {{}}))
    ops = stream.Client(build_query("p", {{"channel": "ops"}}))
    feed.clients |= {{every, ops}}
    task = asyncio.create_task(feed.run())
    await feed.ready.wait()
    store([f"a{{i}}" for i in range(10)], now + 100)
    store(["o1", "o2"], now + 200, channel="ops")
    store(["x"], now + 300, project="q")  # another project
    await asyncio.sleep(0.5)
    store(["late"], now + 50)  # arrived earlier than what was sent, stored later
    await asyncio.sleep(0.5)
    def drain(client):
        out = []
        while not client.queue.empty():
            out.append(client.queue.get_nowait().decode())
        return out
    got_every, got_ops = drain(every), drain(ops)
    feed.clients.clear()
    await task
    first_cursor = got_every[0].split("\\n")[0][4:]
    catch = stream.Client(build_query("p", {{}}))
    feed2 = stream.Feed(Edge(), "p", 0.05)
    feed2.ready.set()
    since = stream.parse_cursor(first_cursor)  # the catch-up looks back LOOKBACK_MS from it
    resumed = [m.decode() async for m in stream._catch_up(feed2, catch, since)]
    names = lambda messages: [orjson.loads(m.split("data: ")[1])["event"] for m in messages]
    print(orjson.dumps({{
        "every": names(got_every), "ops": names(got_ops), "resumed": names(resumed),
        "ids": [m.split("\\n")[0] for m in got_every],
    }}).decode())

asyncio.run(main())
"""


def run() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=str(ROOT))],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return orjson.loads(out.stdout.strip().splitlines()[-1])


def test_the_feed_pages_filters_and_catches_stragglers_and_resumes():
    result = run()
    assert result["every"] == [*(f"a{i}" for i in range(10)), "o1", "o2", "late"]
    assert result["ops"] == ["o1", "o2"]
    assert len(set(result["ids"])) == 13 and all(i.startswith("id: ") for i in result["ids"])
    # from the first cursor's time (minus the look-back): everything stored, in arrival order
    assert result["resumed"][:2] == ["old", "late"] and len(result["resumed"]) == 14
