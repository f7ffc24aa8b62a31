"""Enrichment micro-benchmark on the realistic mix from ``bench/workload.py``.

Prints, side by side: user-agent parses/s uncached (cache_size=0, the full wrapper) and cached
(warm LRU), next to ua-parser's own ``regex.Resolver`` called for all domains; geo lookups/s
uncached via the raw maxminddb ``get()`` we use and via geoip2's ``Reader.city()`` for
comparison, and cached; page parses/s.

    python bench/bench_enrichment.py --events 50000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ua_parser import Domain, load_builtins  # noqa: E402
from ua_parser.regex import Resolver as RegexResolver  # noqa: E402

from bench.workload import _PATHS, _REFERRERS, _UTM, public_ip, user_agents  # noqa: E402
from pipeline.enrichment.geo import GeoResolver  # noqa: E402
from pipeline.enrichment.pages import parse_page  # noqa: E402
from pipeline.enrichment.useragent import UserAgentParser  # noqa: E402


def rate(fn: Callable[[str], object], items: Sequence[str], repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` passes, in calls per second of wall time and of this process's CPU
    time (the second is what one free core would do when the box is shared)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for item in items:
            fn(item)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(items) / best_wall, len(items) / max(best_cpu, 1e-9)


def line(name: str, rates: tuple[float, float], note: str = "") -> None:
    wall, cpu = rates
    print(f"  {name:<40} {wall:>11,.0f} /s wall {cpu:>11,.0f} /s cpu  {note}".rstrip())


def bench_user_agents(rng: random.Random, events: int) -> None:
    agents = user_agents()
    # Visitors keep their UA: a few thousand visitors over ~200 distinct strings.
    mix = [rng.choice(agents) for _ in range(events)]
    print(f"user agents: {events:,} parses over {len(set(mix))} distinct strings")
    resolver = RegexResolver(load_builtins())
    uncached = UserAgentParser(cache_size=0)
    line("ua-parser Resolver(ua, Domain.ALL)", rate(lambda ua: resolver(ua, Domain.ALL), mix))
    line("UserAgentParser uncached", rate(uncached.parse, mix), uncached.resolver_name)
    cached = UserAgentParser()
    for ua in mix:
        cached.parse(ua)
    line("UserAgentParser cached (warm)", rate(cached.parse, mix))


def bench_geo(rng: random.Random, events: int) -> None:
    ips = [public_ip(rng) for _ in range(events)]
    print(f"geo: {events:,} lookups of random public IPv4 addresses")
    geo = GeoResolver(cache_size=0)
    reader = geo._reader

    def city(ip: str) -> object:
        try:
            record = reader.city(ip)
        except Exception:
            return None
        return (record.country.iso_code, record.subdivisions.most_specific.name, record.city.name)

    line("GeoResolver uncached, first pass (cold)", rate(geo.lookup, ips, repeat=1))
    line("GeoResolver uncached (warm)", rate(geo.lookup, ips))
    line("geoip2 Reader.city() (warm, comparison)", rate(city, ips))
    geo.close()
    visitors = ips[: max(1, events // 10)]
    repeat_mix = [rng.choice(visitors) for _ in range(events)]
    cached = GeoResolver()
    for ip in repeat_mix:
        cached.lookup(ip)
    line("GeoResolver cached (warm)", rate(cached.lookup, repeat_mix))
    cached.close()


def bench_pages(rng: random.Random, events: int) -> None:
    pairs = [
        ("https://shop.example" + rng.choice(_PATHS) + rng.choice(_UTM), rng.choice(_REFERRERS))
        for _ in range(events)
    ]
    print(f"pages: {events:,} page URL + referrer pairs")
    uncached_page = parse_page.__wrapped__
    line("parse_page uncached", rate(lambda pair: uncached_page(*pair), pairs))  # type: ignore[arg-type]
    line("parse_page cached (warm)", rate(lambda pair: parse_page(*pair), pairs))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bench_user_agents(rng, args.events)
    bench_geo(rng, args.events)
    bench_pages(rng, args.events)


if __name__ == "__main__":
    main()
