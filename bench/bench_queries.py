"""Dashboard query benchmark: a realistic data set in chDB, then the dashboard's queries timed
through the public HTTP API of a real embedded server.

Generates (or reuses, with ``--data-dir``) a data set straight into ClickHouse — 10 million
events, 500k visitors, 1.5M sessions over 30 days by default (see ``bench/query_dataset.py``) —
starts ``trackhouse serve`` on it and times, p50/p95 over ``--runs`` runs each: Plausible Stats
API v2 queries (``POST /api/v2/query``: top stats with the previous-period comparison, time
series by day and hour, every breakdown, goals with conversion rate, realtime visitors), a
4-step funnel (``POST /v1/funnels``), a 12-week retention matrix (``GET /v1/retention``), the
full dashboard (all its queries, ``--concurrency`` at a time), and the overview's own requests
with the bodies the dashboard sends (its figures, chart and five cards; 4 at a time, as it sends
them). A route the server does not have is reported as ``n/a (404)``. With ``--with-ingest``,
ingest is offered at ``--ingest-rate`` ev/s (bench_embedded's load generator) while the
dashboard refreshes every ``--refresh-seconds`` (``--refresh all``: every dashboard query;
``dashboard``: the overview's own requests it asks again, its figures and chart each time and
its cards every 6th), and p99 POST -> visible is reported.

    PYTHONPATH=. .venv/bin/python bench/bench_queries.py --events 200000 --runs 5   # smoke
    PYTHONPATH=. .venv/bin/python bench/bench_queries.py --data-dir /tmp/bench-10m  # the real one
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.server import Server, cli  # noqa: E402

MARKER = "bench-dataset.json"
ANALYST_TOKEN = "bench-analyst-token"
DASHBOARD_TARGET_MS, FUNNEL_TARGET_MS, FULL_TARGET_MS = 300, 1000, 1500
BREAKDOWNS = [
    "event:page",
    "visit:entry_page",
    "visit:exit_page",
    "visit:source",
    "visit:channel",
    "visit:utm_source",
    "visit:country",
    "visit:region",
    "visit:city",
    "visit:device",
    "visit:browser",
    "visit:os",
]


@dataclass
class Query:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    target_ms: int = DASHBOARD_TARGET_MS
    dashboard: bool = True  # one of the "full dashboard" queries
    overview: bool = False  # a request the dashboard's overview sends, as it sends it
    times: list[float] = field(default_factory=list)
    failure: str = ""
    cpu_seconds: float = 0.0  # the server's CPU over the timed runs (edge + storage process)


def dashboard_queries(site_id: str) -> list[Query]:
    """The dashboard's requests (Plausible Stats API v2 bodies), the funnel and retention."""

    def stats(name: str, **body: Any) -> Query:
        return Query(name, "POST", "/api/v2/query", {"site_id": site_id, **body})

    now = datetime.now(UTC)
    realtime = [(now - timedelta(minutes=5)).isoformat(), now.isoformat()]
    top = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]
    queries = [
        stats(
            "top stats + previous period",
            metrics=top,
            date_range="30d",
            include={"comparisons": {"mode": "previous_period"}},
        ),
        stats(
            "time series by day",
            metrics=["visitors", "pageviews"],
            date_range="30d",
            dimensions=["time:day"],
        ),
        stats(
            "time series by hour",
            metrics=["visitors", "pageviews"],
            date_range="7d",
            dimensions=["time:hour"],
        ),
        *(
            stats(
                f"breakdown {dimension}",
                metrics=["visitors"],
                date_range="30d",
                dimensions=[dimension],
                order_by=[["visitors", "desc"]],
                pagination={"limit": 9},
            )
            for dimension in BREAKDOWNS
        ),
        stats(
            "goals + conversion rate",
            metrics=["visitors", "events", "conversion_rate"],
            date_range="30d",
            dimensions=["event:goal"],
        ),
        stats("realtime visitors", metrics=["visitors"], date_range=realtime),
        Query(
            "funnel, 4 steps",
            "POST",
            "/v1/funnels",
            {
                "steps": [
                    {"page": "/"},
                    {"page": "/pricing*"},
                    {"event": "signup"},
                    {"event": "purchase"},
                ],
                "window": "1h",
                "date_range": "30d",
            },
            target_ms=FUNNEL_TARGET_MS,
            dashboard=False,
        ),
        Query(
            "retention, 12 weeks",
            "GET",
            "/v1/retention",
            params={"period": "week", "cohorts": "12"},
            target_ms=FUNNEL_TARGET_MS,
            dashboard=False,
        ),
    ]
    return queries + overview_queries(site_id)


def overview_queries(site_id: str) -> list[Query]:
    """The overview's own requests, bodies as dashboard/src/overview.jsx and breakdown.jsx send
    them for the default view (30 days, compared with the previous period, each card's first
    tab; revenue only with a revenue goal, which the data set has not)."""
    base = {"site_id": site_id, "date_range": "30d", "filters": []}
    previous = {"comparisons": {"mode": "previous_period"}}
    top = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]

    def request(label: str, **body: Any) -> Query:
        return Query(f"overview: {label}", "POST", "/api/v2/query", {**base, **body},
                     dashboard=False, overview=True)  # fmt: skip

    def card(label: str, dimension: str, metrics: list[str], limit: int = 10, **more: Any):
        return request(label, metrics=metrics, dimensions=[dimension],
                       order_by=[[metrics[0], "desc"]], pagination={"limit": limit, "offset": 0},
                       **more)  # fmt: skip

    with_page = [["is_not", "event:page", [""]]]
    return [
        request("figures", metrics=top, include=previous),
        request("chart", metrics=["visitors"], dimensions=["time:day"], include=previous),
        card("top pages", "event:page", ["visitors"], filters=with_page),
        card("sources", "visit:source", ["visitors", "visits"]),
        card("map", "visit:country", ["visitors"], limit=250),
        card("devices", "visit:device", ["visitors", "visits"]),
        card("goals", "event:goal", ["visitors", "events", "conversion_rate"]),
    ]  # fmt: skip


async def timed(client: aiohttp.ClientSession, query: Query) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    async with client.request(
        query.method,
        query.path,
        data=orjson.dumps(query.body) if query.body is not None else None,
        params=query.params,
    ) as response:
        body = await response.read()
    return time.perf_counter() - started, response.status, body


async def time_each(
    client: aiohttp.ClientSession, queries: list[Query], runs: int, server_pid: int = 0
) -> None:
    """Each query ``runs`` times, one at a time (the first run warms caches and is dropped);
    with ``server_pid``, the server's CPU time over the timed runs too."""
    for query in queries:
        for run in range(runs + 1):
            cpu = tree_cpu_seconds(server_pid) if server_pid else 0.0
            seconds, status, body = await timed(client, query)
            if status != 200:
                query.failure = "n/a (404)" if status == 404 else f"error {status}: {body[:60]!r}"
                break
            if run:
                query.times.append(seconds)
                if server_pid:
                    query.cpu_seconds += tree_cpu_seconds(server_pid) - cpu


async def run_all(client: aiohttp.ClientSession, queries: list[Query], concurrency: int) -> float:
    """Wall time of ``queries`` (those that did not fail), ``concurrency`` in flight at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(query: Query) -> None:
        async with gate:
            await timed(client, query)

    started = time.perf_counter()
    await asyncio.gather(*(one(q) for q in queries if not q.failure))
    return time.perf_counter() - started


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its descendants (the server and its
    storage process), from /proc; 0 where /proc is missing."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(member, 0.0) for member in tree)


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def row(
    name: str, times: list[float], target_ms: int, failure: str = "", cpu_seconds: float = 0.0
) -> str:
    if failure or not times:
        return f"{name:<34} {failure or 'no runs':>26}   target p95 <= {target_ms:,} ms"
    p50, p95 = percentiles(times)
    verdict = "ok" if p95 <= target_ms else "OVER"
    cpu = f"   server CPU {cpu_seconds / len(times) * 1000:5.0f} ms/run" if cpu_seconds else ""
    return (
        f"{name:<34} p50 {p50:7.0f} ms  p95 {p95:7.0f} ms   target p95 <= {target_ms:,} ms"
        f"  {verdict}{cpu}"
    )


def client_session(server: Server, key: str) -> aiohttp.ClientSession:
    headers = {
        "Authorization": f"Bearer {key}",
        "X-API-Key": key,
        "Content-Type": "application/json",
    }
    return aiohttp.ClientSession(
        base_url=server.url, headers=headers, timeout=aiohttp.ClientTimeout(total=120)
    )


async def measure(server: Server, project: dict[str, str], args: argparse.Namespace) -> None:
    queries = dashboard_queries(project["project_id"])
    async with client_session(server, project["secret_key"]) as client:
        server_pid = server.process.pid if server.process else os.getpid()
        cpu = tree_cpu_seconds(server_pid)
        timed_queries = [q for q in queries if args.only in q.name]
        await time_each(client, timed_queries, args.runs, server_pid)
        each_cpu, cpu = tree_cpu_seconds(server_pid) - cpu, tree_cpu_seconds(server_pid)
        dashboard = [q for q in queries if q.dashboard]
        fulls = [await run_all(client, dashboard, args.concurrency) for _ in range(args.runs)]
        full_cpu = tree_cpu_seconds(server_pid) - cpu
        overviews = [
            await run_all(client, [q for q in queries if q.overview], OVERVIEW_CONCURRENCY)
            for _ in range(args.runs)
        ]
    print(f"\nqueries through the HTTP API, {args.runs} runs each (after one warm-up run):")
    for query in queries:
        if args.only in query.name:
            print(row(query.name, query.times, query.target_ms, query.failure, query.cpu_seconds))
    served = sum(1 for q in queries if q.dashboard and not q.failure)
    name = f"full dashboard ({served} queries, {args.concurrency} at a time)"
    print(row(name, fulls if served else [], FULL_TARGET_MS, "" if served else "n/a (404)"))
    sent = sum(1 for q in queries if q.overview and not q.failure)
    name = f"overview as sent ({sent} requests, {OVERVIEW_CONCURRENCY} at a time)"
    print(row(name, overviews if sent else [], FULL_TARGET_MS, "" if sent else "n/a (404)"))
    print(
        f"server CPU (edge + storage process): {each_cpu:.1f} s for the one-at-a-time runs, "
        f"{full_cpu / max(1, args.runs):.2f} s per full dashboard "
        f"({args.read_connections} read connections, nice {args.read_nice})"
    )
    if not args.skip_reference:
        await reference_sql(server, project["project_id"], args)
    if args.with_ingest:
        await with_ingest(server, project, queries, args)


async def reference_sql(server: Server, project_id: str, args: argparse.Namespace) -> None:
    """The same questions as plain SQL through live SQL (one query at a time, the analyst
    token's limits): the engine's share of each figure above."""
    from bench.query_sql import reference_queries

    results: list[tuple[str, list[float], str]] = []
    async with aiohttp.ClientSession(
        base_url=server.url,
        headers={"X-ClickHouse-Key": ANALYST_TOKEN},
        timeout=aiohttp.ClientTimeout(total=120),
    ) as client:
        for name, sql in reference_queries("trackhouse", project_id):
            times, failure = [], ""
            for run in range(args.runs + 1):
                started = time.perf_counter()
                async with client.post("/clickhouse/", data=sql.encode()) as response:
                    body = await response.read()
                if response.status != 200:
                    failure = f"error {response.status}: {body[:60]!r}"
                    break
                if run:
                    times.append(time.perf_counter() - started)
            results.append((name, times, failure))
    print(f"\nreference: the same questions as SQL through live SQL, {args.runs} runs each:")
    for name, times, failure in results:
        target = FUNNEL_TARGET_MS if name.startswith(("funnel", "retention")) else 300
        print(row(name, times, target, failure))
    sqls = [sql for _, sql in reference_queries("trackhouse", project_id)]
    async with aiohttp.ClientSession(base_url=server.url) as client:
        alls = [await run_sql(client, sqls) for _ in range(args.runs)]
    print(row(f"all {len(sqls)}, one after the other", alls, FULL_TARGET_MS))


async def with_ingest(
    server: Server, project: dict[str, str], queries: list[Query], args: argparse.Namespace
) -> None:
    """Ingest at ``--ingest-rate`` while the dashboard refreshes every ``--refresh-seconds``
    (through the stats API; while it is missing, the reference SQL through live SQL)."""
    from bench.bench_embedded import Load
    from bench.query_sql import reference_queries

    # Message ids of their own: a data dir reused by an earlier run already holds events with
    # the ids of a default Load, and a repeated id is a duplicate, dropped by design (an earlier
    # version of this bench stored ~13% of what it offered on a reused data dir).
    run_id = (int(time.time()) % 1_000_000) * 100_000_000
    load = Load(server, project["secret_key"], args.ingest_rate, 200, args.ingest_seconds, run_id)
    refreshes: list[float] = []
    served = any(q.dashboard and not q.failure for q in queries)
    sqls = [sql for _, sql in reference_queries("trackhouse", project["project_id"])]

    async def refresher() -> None:
        async with client_session(server, project["secret_key"]) as client:
            deadline = time.monotonic() + args.ingest_seconds
            tick = 0
            while time.monotonic() < deadline:
                started = time.monotonic()
                if served:
                    asked = refreshed_queries(queries, args.refresh, tick)
                    at_once = args.concurrency if args.refresh == "all" else OVERVIEW_CONCURRENCY
                    refreshes.append(await run_all(client, asked, at_once))
                    tick += 1
                else:
                    refreshes.append(await run_sql(client, sqls))
                wait = min(started + args.refresh_seconds, deadline) - time.monotonic()
                await asyncio.sleep(max(0.0, wait))  # (stops at the deadline)

    result, _ = await asyncio.gather(load.run(8), refresher())
    latencies = sorted(load.latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None
    print(
        f"\nwith ingest offered at {args.ingest_rate:,} ev/s for {args.ingest_seconds:.0f} s, "
        f"dashboard every {args.refresh_seconds:g} s ({args.refresh} refresh):"
    )
    print(
        f"accepted {load.accepted / result['send_seconds']:,.0f} ev/s "
        f"({load.refused:,} refused), stored during load "
        f"{result['stored_at_deadline'] / result['send_seconds']:,.0f} ev/s"
    )
    shown = f"{p99:.3f} s" if p99 is not None else "no probes"
    verdict = "ok" if p99 is not None and p99 <= 2 else "OVER"
    print(f"POST -> visible p99 {shown} ({len(latencies)} probes)   target <= 2 s  {verdict}")
    for reason, batches in load.refusals.most_common():
        print(f"  refused {batches:,} batches: {reason}")
    what = "reference SQL, all (live SQL)"
    if served:
        what = "full dashboard" if args.refresh == "all" else "dashboard refresh"
    print(row(f"{what} during ingest", refreshes, FULL_TARGET_MS))


# What the dashboard's overview asks again while its range reaches today
# (dashboard/src/overview.jsx): the figures and the chart every refresh, its five panels' open
# tabs every CARD_EVERY-th refresh; never more than OVERVIEW_CONCURRENCY at once (api.js).
LIVE_QUERIES = ("overview: figures", "overview: chart")
PANEL_QUERIES = (
    "overview: sources",
    "overview: top pages",
    "overview: map",
    "overview: devices",
    "overview: goals",
)
CARD_EVERY = 6
OVERVIEW_CONCURRENCY = 4


def refreshed_queries(queries: list[Query], mode: str, tick: int) -> list[Query]:
    """The queries of one refresh: all the dashboard's (``all``, the stress case), or those the
    overview itself asks again on refresh number ``tick`` (``dashboard``)."""
    if mode == "all":
        return [q for q in queries if q.dashboard]
    wanted = LIVE_QUERIES + (PANEL_QUERIES if tick % CARD_EVERY == 0 else ())
    return [q for q in queries if q.name in wanted]


async def run_sql(client: aiohttp.ClientSession, sqls: list[str]) -> float:
    """Wall time of ``sqls`` through live SQL, one after the other (as live SQL runs them)."""
    started = time.perf_counter()
    for sql in sqls:
        async with client.post(
            "/clickhouse/", data=sql.encode(), headers={"X-ClickHouse-Key": ANALYST_TOKEN}
        ) as response:
            await response.read()
    return time.perf_counter() - started


def prepare(args: argparse.Namespace) -> tuple[Path, dict[str, Any], bool]:
    """The data dir with the data set (generated now, or reused) and its description; the
    flag says whether the data dir is temporary."""
    wanted = {k: getattr(args, k) for k in ("events", "visitors", "sessions", "days")}
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="trackhouse-qbench-")) if temporary else args.data_dir
    marker = data_dir / MARKER
    if marker.exists():
        described = orjson.loads(marker.read_bytes())
        if described["parameters"] == wanted:
            print(f"reusing the data set in {data_dir} ({described['counts']})")
            return data_dir, described, temporary
        shutil.rmtree(data_dir)
    elif data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"{data_dir} is not empty and holds no bench data set")
    data_dir.mkdir(parents=True, exist_ok=True)
    project = cli(data_dir, "projects", "create", "bench")
    started = time.perf_counter()
    out = subprocess.run(  # in a child process: chDB allows one engine per process
        [
            sys.executable,
            str(Path(__file__).with_name("query_dataset.py")),
            str(data_dir),
            "--project-id",
            project["project_id"],
            *(f"--{key}={value}" for key, value in wanted.items()),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    counts = orjson.loads(out.stdout.strip().splitlines()[-1])
    seconds = time.perf_counter() - started
    print(f"generated {counts} in {seconds:.0f} s into {data_dir}")
    described = {"parameters": wanted, "counts": counts, "project": project, "seconds": seconds}
    marker.write_bytes(orjson.dumps(described))
    return data_dir, described, temporary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=None, help="default: events / 20")
    parser.add_argument("--sessions", type=int, default=None, help="default: events * 0.15")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=None, help="keep/reuse the data set")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=6, help="full dashboard requests")
    parser.add_argument("--with-ingest", action="store_true")
    parser.add_argument("--ingest-rate", type=int, default=15_000)
    parser.add_argument("--ingest-seconds", type=float, default=60)
    parser.add_argument("--refresh-seconds", type=float, default=5)
    parser.add_argument(
        "--refresh",
        choices=("all", "dashboard"),
        default="all",
        help="with --with-ingest: every dashboard query each refresh (all), or what the "
        "overview asks again (dashboard: figures and chart each time, panels every 6th)",
    )
    parser.add_argument(
        "--sql-threads",
        type=int,
        default=2,
        help="max_threads of the reference SQL (live SQL; its own default is 1)",
    )
    parser.add_argument(
        "--read-connections",
        type=int,
        default=3,
        help="the server's TRACKHOUSE_STORAGE_READ_CONNECTIONS (reads served at once)",
    )
    parser.add_argument("--read-nice", type=int, default=19, help="TRACKHOUSE_STORAGE_READ_NICE")
    parser.add_argument("--skip-reference", action="store_true", help="no live SQL reference")
    parser.add_argument("--only", default="", help="time only queries whose name has this")
    args = parser.parse_args()
    args.visitors = args.visitors or max(1, args.events // 20)
    args.sessions = args.sessions or max(1, int(args.events * 0.15))
    data_dir, described, temporary = prepare(args)
    server = Server(
        data_dir,
        env={
            "TRACKHOUSE_LOG_LEVEL": "warning",
            "TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "0",
            "TRACKHOUSE_ANALYST_TOKEN": ANALYST_TOKEN,
            "TRACKHOUSE_LIVE_SQL_MAX_THREADS": str(args.sql_threads),
            "TRACKHOUSE_STORAGE_READ_CONNECTIONS": str(args.read_connections),
            "TRACKHOUSE_STORAGE_READ_NICE": str(args.read_nice),
        },
    ).start(timeout=300)
    try:
        asyncio.run(measure(server, described["project"], args))
    finally:
        server.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
