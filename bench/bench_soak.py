"""Soak: offer the embedded server about twice what it can store, for a bounded time, and show
that memory stays flat (the edge sheds with 503 instead of queueing).

Prints the current RSS of the edge + storage processes every ``--every`` seconds, then the
first/last/peak figures and the growth over the second half of the run.

    python bench/bench_soak.py --seconds 120 --rate 20000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_embedded import Load  # noqa: E402
from tests.integration.server import Server, cli  # noqa: E402


def rss_mib(pid: int) -> float:
    """Current RSS of ``pid`` and its children."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for process in [pid, *map(int, children)]:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


async def sample(pid: int, every: float, until: float, out: list[tuple[float, float]]) -> None:
    start = time.monotonic()
    while time.monotonic() < until:
        out.append((time.monotonic() - start, rss_mib(pid)))
        print(f"t={out[-1][0]:6.1f} s   RSS {out[-1][1]:8,.0f} MiB", flush=True)
        await asyncio.sleep(every)


async def soak(load: Load, pid: int, workers: int, every: float) -> list[tuple[float, float]]:
    samples: list[tuple[float, float]] = []
    until = time.monotonic() + load.seconds
    sampler = asyncio.create_task(sample(pid, every, until, samples))
    await load.run(workers)
    await sampler
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rate", type=int, default=20_000, help="offered events/s")
    parser.add_argument("--every", type=float, default=10)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="trackhouse-soak-")) / "data"
    project = cli(data_dir, "projects", "create", "soak")
    env = {"TRACKHOUSE_LOG_LEVEL": "warning", "TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "0"}
    server = Server(data_dir, env=env).start()
    try:
        load = Load(server, project["secret_key"], args.rate, 200, args.seconds)
        samples = asyncio.run(soak(load, server.process.pid, 8, args.every))
    finally:
        server.stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    half = [rss for t, rss in samples if t >= args.seconds / 2]
    print(f"offered {args.rate:,} ev/s for {args.seconds:.0f} s: accepted {load.accepted:,}, "
          f"refused (503) {load.refused:,}")  # fmt: skip
    print(f"RSS first {samples[0][1]:,.0f} MiB, last {samples[-1][1]:,.0f} MiB, "
          f"peak {max(r for _, r in samples):,.0f} MiB; "
          f"second half min..max {min(half):,.0f}..{max(half):,.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
