"""The dashboard's filter operators, "Show more", funnel breakdowns and goals editor in Debian's
headless Chromium, over fixture visits whose figures the tests compute themselves; screenshots
of each at 1280 and 375 px wide."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.integration import dashboard_site
from tests.integration.dashboard_site import (
    ADMIN,
    VISITORS,
    assert_local,
    open_tab,
    shoot,
    sign_in,
    wait_kpi,
)
from tests.integration.helpers import CHROME_WINDOWS, IPHONE, key_headers, read_headers
from tests.integration.server import wait_for

pytestmark = pytest.mark.slow
# the module's fixtures (an embedded server with the fixture visits, Chromium, the fresh build)
board, browser, built_dashboard = (
    dashboard_site.board,
    dashboard_site.browser,
    dashboard_site.built_dashboard,
)


def visited(visit: dict[str, Any], part: str) -> bool:
    return any(part in e.get("context", {}).get("page", {}).get("url", "") for e in visit["events"])


def signed_up(visit: dict[str, Any]) -> bool:
    return any(e.get("event") == "Signup" for e in visit["events"])


def cells(page, row: str) -> list[str]:
    """A table row's cells, as shown."""
    return [t.strip() for t in page.locator(row).locator("th, td").all_inner_texts()]


def add_filter(page, dimension: str, op: str, value: str) -> None:
    page.click("button.add-filter")
    page.get_by_label("Filter dimension").select_option(label=dimension)
    page.get_by_label("Filter operator").select_option(label=op)
    page.get_by_label("Filter value").fill(value)
    page.click(".filter-add button[type=submit]")


@pytest.mark.parametrize("width", [1280, 375])
def test_filters_with_operators(board, browser, width):
    page = open_tab(browser, width, 900)
    sign_in(page, board, board.project["secret_key"])
    wait_kpi(page, "visitors", VISITORS)
    not_google = [v for v in board.visits if v["source"] != "Google"]
    assert 0 < len(not_google) < VISITORS
    add_filter(page, "Source", "is not", "Google")
    wait_kpi(page, "visitors", len(not_google))
    assert "f=visit:source~is_not|Google" in unquote(page.url)
    assert page.inner_text(".filters li") == "Source is not Google\n×"

    blog = [v for v in not_google if visited(v, "blog")]
    assert 0 < len(blog) < len(not_google)
    add_filter(page, "Page", "contains", "blog")
    wait_kpi(page, "visitors", len(blog))
    page.click("button.add-filter")  # the form open in the screenshot
    suffix = "desktop" if width > 1000 else "mobile"
    shoot(page, f"filters-{suffix}")
    page.click(".filter-add button >> text='Cancel'")

    page.click("[aria-label='Remove filter visit:source is not']")
    wait_kpi(page, "visitors", sum(visited(v, "blog") for v in board.visits))
    page.click("[aria-label='Remove filter event:page contains']")
    wait_kpi(page, "visitors", VISITORS)
    assert_local(page, board)
    page.context.close()


@pytest.fixture(scope="module")
def many_pages(board):
    """A second project: 13 visitors, visitor v viewing /p0 ... /pv, so /pk has 13 - k."""
    answer = httpx.post(
        f"{board.url}/admin/v1/projects",
        json={"name": "Many pages"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert answer.status_code == 201, answer.text
    project = answer.json()
    for v in range(13):
        events = [
            {
                "type": "page",
                "visitor_id": f"many-{v}",
                "context": {"page": {"url": f"https://many.test/p{k}"}},
            }
            for k in range(v + 1)
        ]
        sent = httpx.post(
            f"{board.url}/v1/batch", json={"events": events}, headers=key_headers(project)
        )
        assert sent.status_code == 202, sent.text

    def stored() -> bool:
        found = httpx.get(
            f"{board.url}/v1/sessions", params={"limit": 100}, headers=read_headers(project)
        ).json()["sessions"]
        return sum(s["events"] for s in found) == 13 * 14 // 2

    assert wait_for(stored, 60), "the visits did not all arrive"
    return project


def test_top_pages_count_page_views_from_every_client(board, browser):
    """Found reading the change again: the Top pages card asked for events named ``pageview``,
    so PostHog's ``$pageview`` and a page view sent with a name of its own were left out (while
    "Total pageviews" counted them); a backend event without a page still makes no row."""
    answer = httpx.post(f"{board.url}/admin/v1/projects", json={"name": "Every client"},
                        headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    project = answer.json()
    native = [
        {"type": "page", "visitor_id": "n-1", "context": {"page": {"url": "https://mix.test/a"}}},
        {"type": "page", "event": "Pricing", "visitor_id": "n-2",
         "context": {"page": {"url": "https://mix.test/named"}}},
        {"event": "invoice_paid", "user_id": "backend-1"},
    ]  # fmt: skip
    sent = httpx.post(f"{board.url}/v1/batch", json={"events": native},
                      headers=key_headers(project))  # fmt: skip
    assert sent.status_code == 202, sent.text
    posthog = {"api_key": project["write_key"], "batch": [
        {"event": "$pageview", "distinct_id": "ph-1",
         "properties": {"$current_url": "https://mix.test/posthog"}}]}  # fmt: skip
    assert httpx.post(f"{board.url}/batch/", json=posthog).status_code == 200

    def stored() -> bool:
        found = httpx.get(f"{board.url}/v1/events", params={"limit": 100},
                          headers=read_headers(project)).json()["events"]  # fmt: skip
        return len(found) == 4

    assert wait_for(stored, 60), "the events did not all arrive"
    page = open_tab(browser, 1280, 900)
    sign_in(page, board, project["secret_key"], "#/overview?period=day")
    rows = "[data-panel=Pages] tbody tr"
    wait_kpi(page, "pageviews", 3)
    page.wait_for_function(f"() => document.querySelectorAll('{rows}').length >= 1")
    shown = sorted(
        tuple(cells(page, f"{rows} >> nth={k}")) for k in range(page.locator(rows).count())
    )
    assert shown == [("/a", "1"), ("/named", "1"), ("/posthog", "1")]
    page.context.close()


def test_show_more_pages_past_the_top_10(board, browser, many_pages):
    for width in (1280, 375):
        page = open_tab(browser, width, 900)
        sign_in(page, board, many_pages["secret_key"], "#/overview?period=day")
        rows = "[data-panel=Pages] tbody tr"
        page.wait_for_function(f"() => document.querySelectorAll('{rows}').length === 10")
        assert cells(page, f"{rows} >> nth=9")[0] == "/p9"
        page.click("[data-panel=Pages] button.more")
        page.wait_for_function(f"() => document.querySelectorAll('{rows}').length === 13")
        shown = [cells(page, f"{rows} >> nth={k}") for k in range(13)]
        assert [(r[0], int(r[1])) for r in shown] == [(f"/p{k}", 13 - k) for k in range(13)]
        assert page.query_selector("[data-panel=Pages] button.more") is None  # nothing left
        suffix = "desktop" if width > 1000 else "mobile"
        shoot(page, f"show-more-{suffix}")
        page.context.close()


def test_a_funnel_broken_down_by_device(board, browser):
    expected = Counter()
    for visit in board.visits:
        agent = visit["events"][0]["context"]["user_agent"]
        device = "mobile" if agent == IPHONE else "desktop"  # the events' device_type
        expected[device, "first"] += 1
        expected[device, "signed"] += signed_up(visit)
    assert CHROME_WINDOWS != IPHONE and expected["mobile", "first"] > 0
    for width in (1280, 375):
        page = open_tab(browser, width, 900)
        sign_in(page, board, board.project["secret_key"], "#/funnels?period=7d")
        page.get_by_label("Step 1 page pattern").fill("/")
        page.get_by_label("Step 2 kind").select_option("event")
        page.get_by_label("Step 2 event name").fill("Signup")
        page.get_by_label("Breakdown").select_option(label="Device")
        page.click("button[type=submit]")
        page.wait_for_selector(".funnel-breakdown tbody tr")
        for device in ("desktop", "mobile"):
            shown = cells(page, f".funnel-breakdown tr[data-value={device}]")
            first, signed = expected[device, "first"], expected[device, "signed"]
            assert shown == [
                device,
                str(first),
                str(signed),
                f"{round(100 * signed / first, 2):g}%",
            ]
        suffix = "desktop" if width > 1000 else "mobile"
        shoot(page, f"funnel-breakdown-{suffix}")
        page.context.close()


def test_goals_are_added_shown_and_deleted(board, browser):
    page = open_tab(browser)
    sign_in(page, board, board.project["secret_key"], "#/goals")
    page.wait_for_selector("tr[data-goal=Signup]")
    page.get_by_label("Goal type").select_option("page")
    page.get_by_label("Page path").fill("/pricing")
    page.get_by_label("Display name").fill("Saw pricing")
    page.click("button >> text='Add goal'")
    page.wait_for_selector("tr[data-goal='Saw pricing']")
    listed = httpx.get(f"{board.url}/api/v1/goals", headers=read_headers(board.project))
    assert {g["display_name"] for g in listed.json()["goals"]} == {"Signup", "Saw pricing"}
    shoot(page, "goals-desktop")
    page.set_viewport_size({"width": 375, "height": 800})
    shoot(page, "goals-mobile")

    pricing = sum(visited(v, "/pricing") for v in board.visits)
    views = sum(
        e["type"] == "page" and e["context"]["page"]["url"].endswith("/pricing")
        for v in board.visits
        for e in v["events"]
    )
    page.goto(f"{board.url}/#/overview?period=7d")  # a new load, signed in: shown at once
    wait_kpi(page, "visitors", VISITORS)
    assert page.locator(".boot").count() == 0  # no "Loading" line left beside it
    goal_row = "[data-panel='Goal conversions'] tr:has-text('Saw pricing')"
    page.wait_for_selector(goal_row)
    shown = cells(page, goal_row)
    assert shown == [
        "Saw pricing",
        str(pricing),
        str(views),
        f"{round(100 * pricing / VISITORS, 2):g}%",
    ]

    page.goto(f"{board.url}/#/goals")
    page.click("[aria-label='Delete goal Saw pricing']")
    page.wait_for_selector("tr[data-goal='Saw pricing']", state="detached")
    listed = httpx.get(f"{board.url}/api/v1/goals", headers=read_headers(board.project))
    assert [g["display_name"] for g in listed.json()["goals"]] == ["Signup"]
    assert_local(page, board)
    page.context.close()


def test_the_figures_and_chart_are_asked_before_the_cards(board, browser):
    """The cards wait until the figures and the chart are answered, then go 4 at a time."""
    page = open_tab(browser)
    # every stats query the page sends, in order, with the number then waiting for an answer
    page.add_init_script("""
      window.asked = []; let open = 0;
      const send = window.fetch;
      window.fetch = (url, options = {}) => {
        if (!String(url).endsWith('/api/v2/query')) return send(url, options);
        const body = JSON.parse(options.body);
        const what = (body.dimensions || []).join(',') || body.metrics.join(',');
        open += 1;
        const after = window.asked.filter((a) => a.done).map((a) => a.what);
        window.asked.push({ what, open, after });
        const entry = window.asked[window.asked.length - 1];
        return send(url, options).finally(() => { open -= 1; entry.done = true; });
      };
    """)
    sign_in(page, board, board.project["secret_key"])
    page.wait_for_function("() => performance.getEntriesByName('trackhouse:cards').length")
    asked = page.evaluate("window.asked")
    first = {"time:day", "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration"}
    assert {a["what"] for a in asked[:2]} == first, asked
    cards = asked[2:]
    assert len(cards) >= 5, asked
    assert all(first <= set(a["after"]) for a in cards), asked  # sent once both were answered
    assert max(a["open"] for a in cards) <= 4, asked
    assert "total_revenue" not in {a["what"] for a in asked}  # no revenue goal: not asked
    page.context.close()
