"""Embedded-mode benchmark: drive a real ``trackhouse serve`` with realistic batches.

Prints, from one run: the floors measured side by side (raw chDB insert rate of the same rows,
and the stage code's per-core rate), then the pipeline's events/s accepted and stored, p50/p99
latency from POST to row visible through the read API, and the server's peak RSS.

    python bench/bench_embedded.py --seconds 60 --rate 25000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.workload import Workload  # noqa: E402
from tests.integration.server import Server, cli  # noqa: E402


def stage_and_insert_floor(events: int = 60_000) -> tuple[float, float]:
    """(stages events/s on one core, chDB column insert rows/s) for the same workload, measured
    in a child process so its chDB engine does not clash with the server's."""
    code = f"""
import sys, time, tempfile; sys.path.insert(0, {str(ROOT)!r})
from bench.workload import Workload
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.chain import process_event
from pipeline.stages.enrich import Enricher
from pipeline.stages.normalize import RequestInfo, normalize
import msgspec
from schemas.events import NativeEvent
w = Workload(); docs = w.batch({events}, int(time.time() * 1000))
enricher = Enricher(); info = RequestInfo("prj_bench", int(time.time() * 1000))
start = time.perf_counter(); state = {{}}; out = []
for doc in docs:
    e = enricher.enrich(normalize(msgspec.convert(doc, NativeEvent), info, 3600000))
    s, i = state.get(e.visitor_key, (None, None))
    o = process_event(e, s, i, 1800000); state[e.visitor_key] = (o.sessions_state, o.identity_state)
    out.append(e)
stage_rate = len(docs) / (time.perf_counter() - start)
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "bench"); ch.migrate()
ch.insert(rows.event_block(out[:1000]))  # warm-up: the first insert pays one-off costs
start = time.perf_counter()
for i in range(0, len(out), 20000):
    ch.insert(rows.event_block(out[i:i + 20000]))
print(stage_rate, len(out) / (time.perf_counter() - start))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, text=True
    )
    stage_rate, insert_rate = map(float, result.stdout.split()[-2:])
    return stage_rate, insert_rate


def refusal_reason(status: int, answer: bytes) -> str:
    """``status`` and the error message of a refused batch, its numbers replaced by ``N``."""
    try:
        message = str(orjson.loads(answer).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        message = answer[:80].decode(errors="replace")
    return f"{status} {re.sub(r'[0-9][0-9.]*', 'N', message)}"


class Load:
    def __init__(
        self,
        server: Server,
        key: str,
        rate: int,
        batch: int,
        seconds: float,
        first_probe: int = 0,
    ) -> None:
        self.server, self.key, self.rate, self.batch, self.seconds = (
            server,
            key,
            rate,
            batch,
            seconds,
        )
        # Probe and message ids of another run (a warm-up) must differ: a repeated message id
        # is a duplicate event (deterministic event ids), dropped by design.
        self.first_probe = first_probe
        self.run_tag = b"%x" % first_probe
        self.workload = Workload()
        # Pre-serialised events without their time and id; each send adds those two fields.
        self.fragments = [self._fragment() for _ in range(20_000)]
        self.accepted = 0
        self.refused = 0
        # why batches were refused: the answer's message with its figures taken out
        self.refusals: collections.Counter[str] = collections.Counter()
        self.probes: dict[int, float] = {}
        self.probe_times: dict[int, int] = {}  # probe -> its event's timestamp (epoch ms)
        self.latencies: list[float] = []
        self._ids = itertools.count()

    def _fragment(self) -> bytes:
        event = self.workload.event(0)
        del event["timestamp"], event["message_id"]
        return orjson.dumps(event)[1:]

    def body(self, probe: int | None) -> bytes:
        now = int(time.time() * 1000)
        parts = []
        for _ in range(self.batch):
            n = next(self._ids)
            fragment = self.fragments[n % len(self.fragments)]
            parts.append(
                b'{"timestamp":%d,"message_id":"b%s-%d",' % (now, self.run_tag, n) + fragment
            )
        if probe is not None:
            self.probe_times[probe] = now
            parts[0] = orjson.dumps(
                {
                    "event": "bench_probe",
                    "visitor_id": f"probe{probe}",
                    "properties": {"probe": probe},
                    "timestamp": now,
                }
            )
        return b'{"events":[' + b",".join(parts) + b"]}"

    async def sender(
        self, client: aiohttp.ClientSession, worker: int, workers: int, deadline: float
    ) -> None:
        interval = self.batch * workers / self.rate
        next_send = time.monotonic() + worker * interval / workers
        probe_every = max(1, int(0.25 / interval))
        for sent in itertools.count():
            if time.monotonic() >= deadline:
                return
            probe_id = self.first_probe + worker * 1_000_000 + sent
            probe = probe_id if sent % probe_every == 0 else None
            body = self.body(probe)
            started = time.monotonic()
            async with client.post("/v1/batch", data=body) as response:
                answer = await response.read()
            if response.status == 202:
                self.accepted += orjson.loads(answer)["accepted"]
                if probe is not None:
                    self.probes[probe] = started
            else:
                self.refused += self.batch
                self.refusals[refusal_reason(response.status, answer)] += 1
            next_send += interval
            await asyncio.sleep(max(0.0, next_send - time.monotonic()))

    async def prober(self, client: aiohttp.ClientSession, until: float) -> None:
        seen: set[int] = set()
        while time.monotonic() < until and (
            len(seen) < len(self.probes) or not self.probes or time.monotonic() < until - 1
        ):
            # Only the probes not seen yet: from the oldest one's timestamp on (a dashboard's
            # "recent events"), so the query reads recent parts, not the whole growing table.
            waiting = [self.probe_times[p] for p in self.probes if p not in seen]
            since = min(waiting, default=int(time.time() * 1000)) - 2000
            params = {"event": "bench_probe", "start": since, "limit": 1000}
            async with client.get("/v1/events", params=params) as response:
                answer = orjson.loads(await response.read())
            now = time.monotonic()
            for row in answer.get("events", []):
                probe = int(row["properties"]["probe"])
                if probe not in seen and probe in self.probes:
                    seen.add(probe)
                    self.latencies.append(now - self.probes[probe])
            if len(seen) == len(self.probes) and self.done:
                return
            await asyncio.sleep(0.2)

    async def stored(self, client: aiohttp.ClientSession) -> float:
        async with client.get("/metrics") as response:
            text = await response.text()
        for line in text.splitlines():
            if line.startswith("trackhouse_events_stored_total"):
                return float(line.split()[-1])
        return 0.0

    async def run(self, workers: int) -> dict[str, float]:
        self.done = False
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        # aiohttp: about 0.14 ms of CPU per 200-event POST here, httpx about 1.1 ms (measured
        # side by side), and the load generator shares the server's two cores.
        async with aiohttp.ClientSession(
            base_url=self.server.url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=workers + 4),
        ) as client:
            stored_before = await self.stored(client)
            cpu_before = (*cpu_seconds(self.server.process.pid), time.process_time())
            start = time.monotonic()
            deadline = start + self.seconds
            prober = asyncio.create_task(self.prober(client, deadline + 120))
            await asyncio.gather(
                *(self.sender(client, w, workers, deadline) for w in range(workers))
            )
            send_seconds = time.monotonic() - start
            cpu_after = (*cpu_seconds(self.server.process.pid), time.process_time())
            stored_at_deadline = await self.stored(client) - stored_before
            self.done = True
            while await self.stored(client) - stored_before < self.accepted:
                if time.monotonic() > deadline + 120:
                    break
                await asyncio.sleep(0.2)
            drained = time.monotonic() - start
            await prober
            stored_total = await self.stored(client) - stored_before
        return {
            "send_seconds": send_seconds,
            "stored_at_deadline": stored_at_deadline,
            "drained_seconds": drained,
            "stored_total": stored_total,
            "cpu": [after - before for before, after in zip(cpu_before, cpu_after, strict=True)],
        }


def server_processes(pid: int) -> list[int]:
    """The server process, then its children (the storage process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) of the server process and of its storage process."""
    used = [process_cpu_seconds(process) for process in server_processes(pid)]
    return used[0], sum(used[1:])


def peak_rss_mib(pid: int) -> float:
    """Peak RSS of the server and its storage process (both are part of the embedded runtime)."""
    total = 0.0
    for process in server_processes(pid):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def load_plan(server: Server, secret_key: str, events: int) -> None:
    """PUT a plan of ``events`` events, then wait for the pipeline to load it."""
    import httpx

    from bench.bench_validate import plan_document

    response = httpx.put(
        f"{server.url}/v1/plan", json=plan_document(events), headers={"X-API-Key": secret_key}
    )
    response.raise_for_status()
    time.sleep(3)  # TRACKHOUSE_PLAN_RELOAD_SECONDS is 1 here
    print(f"tracking plan of {events} events loaded (observe)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=25_000, help="offered events/s")
    parser.add_argument("--batch", type=int, default=200, help="events per POST")
    parser.add_argument("--workers", type=int, default=8, help="concurrent connections")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument(
        "--plan-events",
        type=int,
        default=0,
        help="load a tracking plan of N events (observe mode) for the project first",
    )
    args = parser.parse_args()

    if not args.skip_floor:
        stage_rate, insert_rate = stage_and_insert_floor()
        print(f"floor  stages (validate..stitch), one core: {stage_rate:10,.0f} ev/s")
        print(f"floor  chDB insert (the sink's path), same rows: {insert_rate:7,.0f} rows/s")

    data_dir = Path(tempfile.mkdtemp(prefix="trackhouse-bench-")) / "data"
    project = cli(data_dir, "projects", "create", "bench")
    server = Server(
        data_dir,
        env={
            "TRACKHOUSE_LOG_LEVEL": "warning",
            "TRACKHOUSE_SINK_FLUSH_SECONDS": "0.5",
            "TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "0",  # one key offers the whole load
            # a plan loads within load_plan's wait; without one, the default check (one query
            # every 5 s, as a deployment runs it) is what the storage process pays
            **({"TRACKHOUSE_PLAN_RELOAD_SECONDS": "1"} if args.plan_events else {}),
        },
    ).start()
    try:
        if args.plan_events:
            load_plan(server, project["secret_key"], args.plan_events)
        load = Load(server, project["secret_key"], args.rate, args.batch, args.seconds)
        result = asyncio.run(load.run(args.workers))
        rss = peak_rss_mib(server.process.pid)
    finally:
        server.stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)

    accepted_rate = load.accepted / result["send_seconds"]
    stored_rate = result["stored_at_deadline"] / result["send_seconds"]
    lat = sorted(load.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print(
        f"offered rate:                      {args.rate:10,} ev/s for {args.seconds:.0f} s "
        f"(batches of {args.batch}, {args.workers} connections, {os.cpu_count()} cores)"
    )
    print(
        f"accepted (202):                    {accepted_rate:10,.0f} ev/s  "
        f"({load.accepted:,} events,"
        f" {load.refused:,} refused)"
    )
    print(f"stored in ClickHouse during load:  {stored_rate:10,.0f} ev/s")
    print(
        f"all stored after:                  {result['drained_seconds']:10.1f} s "
        f"({result['stored_total']:,.0f} events)"
    )
    print(
        f"POST -> row visible latency:       p50 {p50:.3f} s   p99 {p99:.3f} s   "
        f"({len(lat)} probes)"
    )
    print(f"server peak RSS (edge + storage):  {rss:10,.0f} MiB")
    per_k = 1000 / max(result["stored_at_deadline"], 1) * 1000
    edge_cpu, storage_cpu, load_cpu = (seconds * per_k for seconds in result["cpu"])
    busy = sum(result["cpu"]) / ((os.cpu_count() or 1) * result["send_seconds"])
    print(
        f"CPU ms per 1,000 events stored:    edge {edge_cpu:.0f}, storage {storage_cpu:.0f}, "
        f"load generator {load_cpu:.0f}  (the three kept {busy:.0%} of the cores busy)"
    )
    if not args.skip_floor:
        print(f"pipeline stored / chDB insert floor: {stored_rate / insert_rate:.2f}")


if __name__ == "__main__":
    main()
