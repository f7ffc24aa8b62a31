"""Dashboard paint benchmark: the overview in Debian's headless Chromium over a real embedded
server holding a large data set (10M events by default, bench/bench_queries.py's generator).

Starts ``trackhouse serve`` on ``--data-dir`` (generated there first when it holds no data set),
signs in once through the form with the data set's secret key, then loads the overview
``--runs`` times, each in a fresh browser context (cold HTTP cache; the key and the session
answer already in sessionStorage, as a signed-in tab has them). Times are from navigation start:

- first contentful paint (``first-contentful-paint``),
- first meaningful paint: the figures (visitors, visits, pageviews, ...) on screen with real
  numbers (the app's ``trackhouse:top-stats`` User Timing mark),
- the chart and every card with its data (``trackhouse:cards``),

and the page's stats requests, in the order they were sent. p50 and max over the runs; the
target is first meaningful paint <= 1 s. Figures depend on the machine's load: note it.

    PYTHONPATH=. .venv/bin/python bench/bench_dashboard_paint.py --data-dir /tmp/qbench-10m-paint
    PYTHONPATH=. .venv/bin/python bench/bench_dashboard_paint.py --events 200000 --runs 3  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from bench.bench_queries import prepare  # noqa: E402
from tests.integration.browser_site import DESKTOP_CHROME, chromium  # noqa: E402
from tests.integration.server import Server  # noqa: E402

TARGET_MS = 1000
MARKS = """() => {
  const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  return {
    fcp: mark('first-contentful-paint'),
    top: mark('trackhouse:top-stats'),
    cards: mark('trackhouse:cards'),
    origin: performance.timeOrigin,
    each: Object.fromEntries(performance.getEntriesByType('mark')
      .filter((m) => m.name.startsWith('trackhouse:card:'))
      .map((m) => [m.name.slice(16), Math.round(m.startTime)])),
  };
}"""


def sign_in(browser: Any, url: str, key: str, route: str, timeout_s: float) -> float:
    """Sign in through the form like a user; seconds from the click to the figures. Waits for
    every card too: a closed tab's requests still run on the server, and would slow the next."""
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(f"{url}/{route}")
    page.fill("#key", key)
    started = time.monotonic()
    page.click("button[type=submit]")
    page.wait_for_function("() => performance.getEntriesByName('trackhouse:top-stats').length")
    seconds = time.monotonic() - started
    page.wait_for_function(
        "() => performance.getEntriesByName('trackhouse:cards').length", timeout=timeout_s * 1000
    )
    context.close()
    return seconds


def one_load(
    browser: Any,
    url: str,
    key: str,
    who: dict[str, Any],
    route: str,
    timeout_s: float,
    shot: Path | None = None,
) -> dict[str, Any]:
    """A signed-in load in a fresh context (the tab's sessionStorage holding the key and the
    session answer, as after a sign-in); the marks and the requests."""
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(
        f"sessionStorage.setItem('trackhouse.key', {json.dumps(key)});"
        f"sessionStorage.setItem('trackhouse.who', {json.dumps(json.dumps(who))});"
    )
    page = context.new_page()
    sent: list[str] = []
    done: list[tuple[str, float, float]] = []
    page.on("request", lambda r: "/api/" in r.url and sent.append(describe(r)))
    page.on(
        "requestfinished",
        lambda r: done.append((describe(r), r.timing["startTime"], r.timing["responseEnd"])),
    )
    page.goto(f"{url}/{route}")
    if shot:  # the page at its first meaningful paint, the cards still loading
        page.wait_for_function(
            "() => performance.getEntriesByName('trackhouse:top-stats').length",
            timeout=timeout_s * 1000,
        )
        page.screenshot(path=str(shot))
        print(f"screenshot at the first meaningful paint: {shot}")
    try:
        page.wait_for_function(
            "() => performance.getEntriesByName('trackhouse:cards').length",
            timeout=timeout_s * 1000,
        )
    except PlaywrightTimeout:
        found = page.evaluate(MARKS)
        raise SystemExit(f"not every card got its data in {timeout_s} s: {found}") from None
    found = page.evaluate(MARKS)
    found["sent"] = sent
    found["requests"] = [
        (what, start - found["origin"], start - found["origin"] + end) for what, start, end in done
    ]
    context.close()
    return found


def describe(request: Any) -> str:
    """A stats request in a few words: its dimension (or the figures) and its priority."""
    if request.method != "POST":
        return "/" + request.url.split("?")[0].split("/", 3)[3]
    body = request.post_data_json or {}
    return ",".join(body.get("dimensions") or body.get("metrics") or [])


def summary(name: str, values: list[float], target: float | None = None) -> str:
    p50, worst = statistics.median(values), max(values)
    verdict = "" if target is None else ("  ok" if p50 <= target else f"  over {target:.0f} ms")
    return f"{name:<34} p50 {p50:7.0f} ms   max {worst:7.0f} ms{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="keep/reuse the data set")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=None, help="default: events / 20")
    parser.add_argument("--sessions", type=int, default=None, help="default: events * 0.15")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--period", default="30d", help="the overview's date range")
    parser.add_argument("--timeout", type=float, default=180, help="seconds for every card")
    parser.add_argument(
        "--screenshot", type=Path, default=None, help="a PNG of the last load at its figures"
    )
    args = parser.parse_args()
    args.visitors = args.visitors or max(1, args.events // 20)
    args.sessions = args.sessions or max(1, int(args.events * 0.15))
    data_dir, described, temporary = prepare(args)
    project = described["project"]
    print(f"data set: {described['counts']}; {os.cpu_count()} cores, load {os.getloadavg()}")
    server = Server(data_dir, env={"TRACKHOUSE_LOG_LEVEL": "warning"}).start(timeout=300)
    route = f"#/overview?period={args.period}"
    try:
        with chromium() as browser:
            key = project["secret_key"]
            who = httpx.get(
                f"{server.url}/v1/dashboard/session", headers={"Authorization": f"Bearer {key}"}
            ).json()
            signed = sign_in(browser, server.url, key, route, args.timeout)
            print(f"sign-in through the form -> figures: {signed * 1000:.0f} ms")
            loads = []
            for run in range(args.runs):
                shot = args.screenshot if run == args.runs - 1 else None
                found = one_load(browser, server.url, key, who, route, args.timeout, shot)
                loads.append(found)
                print(
                    f"run {run + 1}: FCP {found['fcp']:.0f} ms, figures {found['top']:.0f} ms, "
                    f"all cards {found['cards']:.0f} ms"
                )
            print("the last load's cards ready at (ms):", loads[-1]["each"])
            print("the last load's stats requests, in order:", " > ".join(loads[-1]["sent"]))
            print("the last load's requests (ms from navigation start):")
            for what, start, end in sorted(loads[-1]["requests"], key=lambda r: r[1]):
                print(f"  {start:7.0f} -> {end:7.0f} ms  {what}")
    finally:
        server.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\n{args.runs} loads of the overview ({args.period}), from navigation start:")
    print(summary("first contentful paint", [r["fcp"] for r in loads]))
    print(summary("first meaningful paint (figures)", [r["top"] for r in loads], TARGET_MS))
    print(summary("every card with its data", [r["cards"] for r in loads]))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
