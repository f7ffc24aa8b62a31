"""The browser tracker (``tracker/``) in real headless Chromium against a running edge: a small
SPA on another origin loads ``/t.js`` (or the ES module); rows are read back with GET
/v1/events. Needs ``chromium`` (``make test`` installs Debian's) and node/npm for the build."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.integration.browser_site import DESKTOP_CHROME, TRACKER, Site, chromium, npm_build
from tests.integration.helpers import fetch, wait_rows

pytestmark = pytest.mark.slow

@pytest.fixture(scope="session")
def built_tracker():
    """The fresh /t.js, built by npm."""
    return npm_build(TRACKER)


@pytest.fixture(scope="module")
def browser(built_tracker):
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def site():
    site = Site()
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture
def tab(browser):
    context = browser.new_context(
        user_agent=DESKTOP_CHROME,
        locale="de-DE",
        viewport={"width": 1000, "height": 700},
        screen={"width": 1440, "height": 900},
    )
    page = context.new_page()
    page.batch_requests = []
    page.on(
        "request",
        lambda r: r.method == "POST" and "/v1/batch" in r.url and page.batch_requests.append(r),
    )
    yield page
    context.close()


def options(embedded, project, **extra):
    return {"key": project["write_key"], "host": embedded.url, "flushInterval": 300, **extra}


def flush(page) -> bool:
    return page.evaluate("() => th.flush()")


def test_spa_page_views_with_context_and_cookie(embedded, site, tab):
    project = embedded.projects[0]
    url = site.spa(embedded.url, options(embedded, project))
    tab.goto(url)
    visitor = tab.evaluate("th.getVisitorId()")
    assert visitor.startswith("vis_")
    tab.click("#to-pricing")  # pushState
    tab.wait_for_function("document.title === 'Pricing'")
    tab.evaluate("history.replaceState(history.state, '', location.href)")  # same URL: no view
    tab.go_back()  # popstate
    tab.wait_for_function("location.pathname === '/app/'")
    tab.wait_for_timeout(100)
    assert flush(tab) is True

    rows = wait_rows(embedded, project, 3, visitor_id=visitor, event="pageview")
    rows = sorted(rows, key=lambda r: r["timestamp"])
    assert [r["path"] for r in rows] == ["/app/", "/app/pricing", "/app/"]
    assert [r["title"] for r in rows] == ["Home", "Pricing", "Home"]
    assert rows[1]["url"] == site.url + "/app/pricing"
    assert rows[1]["referrer"] == site.url + "/app/"
    assert all(r["type"] == "page" for r in rows)
    assert {(r["locale"], r["screen"], r["browser"]) for r in rows} == {
        ("de-DE", "1440x900", "Chrome")
    }
    time.sleep(1)
    assert fetch(embedded, project, visitor_id=visitor)["pagination"]["total"] == 3

    [cookie] = [c for c in tab.context.cookies() if c["name"] == "th_vis"]
    assert cookie["value"] == visitor and cookie["sameSite"] == "Lax"
    days = (cookie["expires"] - datetime.now(UTC).timestamp()) / 86400
    assert 364 < days <= 365
    tab.reload()  # the same visitor on the next load
    assert tab.evaluate("th.getVisitorId()") == visitor


def test_declarative_clicks_and_visibility_including_late_elements(embedded, site, tab):
    project = embedded.projects[0]
    tab.goto(site.spa(embedded.url, options(embedded, project)))
    visitor = tab.evaluate("th.getVisitorId()")
    tab.click("#buy")
    tab.evaluate(
        """() => {
        const late = document.getElementById('late');
        late.innerHTML = '<button id="late-btn" data-kb-track-click="Late Click"><b>go</b></button>'
          + '<div style="height:2000px"></div>'
          + '<section id="late-sec" data-kb-track-visibility="Late Seen"'
          + ' style="height:50px">s</section>';
    }"""
    )
    tab.click("#late-btn b")  # a child of the tagged element
    tab.evaluate("document.getElementById('plans').scrollIntoView()")
    tab.wait_for_timeout(300)
    tab.evaluate("document.getElementById('late-sec').scrollIntoView()")
    tab.wait_for_timeout(300)
    tab.evaluate("document.getElementById('plans').scrollIntoView()")  # once only
    tab.wait_for_timeout(300)
    flush(tab)
    rows = wait_rows(embedded, project, 5, visitor_id=visitor)
    seen = sorted((r["event"], r["channel"]) for r in rows if r["event"] != "pageview")
    assert seen == [
        ("Add to Cart", "ecommerce"),
        ("Late Click", ""),
        ("Late Seen", ""),
        ("Plans Viewed", "marketing"),
    ]


def test_batching_at_ten_and_beacon_on_page_hide(embedded, site, tab):
    project = embedded.projects[1]
    tab.goto(site.spa(embedded.url, options(embedded, project, flushInterval=0)))
    visitor = tab.evaluate("th.getVisitorId()")
    tab.evaluate("for (let i = 0; i < 8; i++) th.track('step', {i})")  # + the page view: 9
    tab.wait_for_timeout(500)
    assert tab.batch_requests == []
    tab.evaluate("th.track('step', {i: 8})")  # the 10th event sends the batch
    tab.wait_for_timeout(500)
    assert len(tab.batch_requests) == 1
    assert len(json.loads(tab.batch_requests[0].post_data)["events"]) == 10
    assert tab.batch_requests[0].headers.get("x-api-key") == project["write_key"]

    # hidden tab: visibilitychange -> sendBeacon with the key in the query string
    tab.evaluate("th.track('before-hide', {i: 9}); th.track('before-hide', {i: 10})")
    tab.evaluate(
        """() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    )
    # leaving the page: pagehide -> sendBeacon
    tab.evaluate("th.track('before-leave', {i: 11})")
    tab.goto(site.url + "/other")
    # Chromium sends a beacon that outlives its page with the browser's own user agent
    # (HeadlessChrome, a bot): include bots when reading back.
    rows = wait_rows(embedded, project, 13, visitor_id=visitor, limit=100, include_bots="true")
    assert sorted(r["properties"].get("i", -1) for r in rows) == list(range(-1, 12))
    beacons = [r for r in tab.batch_requests[1:] if "key=" in r.url]
    assert beacons, [r.url for r in tab.batch_requests]
    time.sleep(1)
    total = fetch(embedded, project, visitor_id=visitor, include_bots="true")["pagination"]["total"]
    assert total == 13


def test_identify_stitches_earlier_anonymous_events(embedded, site, tab):
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex}"
    tab.goto(site.spa(embedded.url, options(embedded, project)))
    visitor = tab.evaluate("th.getVisitorId()")
    tab.evaluate("th.track('browse', {sku: 'A1'})")
    flush(tab)
    wait_rows(embedded, project, 2, visitor_id=visitor)
    tab.evaluate(f"th.identify('{user}', {{plan: 'pro'}})")
    tab.evaluate("th.track('purchase')")
    flush(tab)
    rows = wait_rows(embedded, project, 4, user_id=user)
    assert {r["event"] for r in rows} == {"pageview", "browse", "identify", "purchase"}
    assert all(r["user_id"] == user and r["visitor_id"] == visitor for r in rows)
    # reset(): a new anonymous visitor, no user
    tab.evaluate("th.reset()")
    assert tab.evaluate("th.getUserId()") is None
    assert tab.evaluate("th.getVisitorId()") not in (visitor, None)


def test_5xx_is_retried_once_stored_and_4xx_is_not_retried(embedded, site, tab):
    project = embedded.projects[0]
    calls = []

    def flaky(route):
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Access-Control-Allow-Origin": "*"},
                body='{"error":"unavailable","message":"later"}',
            )
        else:
            route.continue_()

    tab.route("**/v1/batch*", flaky)
    tab.goto(site.spa(embedded.url, options(embedded, project, flushInterval=0)))
    visitor = tab.evaluate("th.getVisitorId()")
    tab.evaluate("th.track('retried')")
    assert flush(tab) is False  # the first attempt got a 503: retried later
    tab.wait_for_timeout(2500)  # (route handlers run while Playwright waits)
    rows = wait_rows(embedded, project, 2, visitor_id=visitor)
    assert len(calls) == 2
    time.sleep(1)
    assert sorted(r["event"] for r in rows) == ["pageview", "retried"]
    assert fetch(embedded, project, visitor_id=visitor)["pagination"]["total"] == 2

    calls.clear()
    tab.unroute("**/v1/batch*")
    tab.route("**/v1/batch*", lambda route: (calls.append(1), route.continue_()))
    tab.goto(site.spa(embedded.url, {**options(embedded, project), "key": "wrong"}))
    assert flush(tab) is False
    tab.wait_for_timeout(1500)
    assert len(calls) == 1  # 401: dropped, never retried


def test_do_not_track_and_gpc_are_respected(embedded, site, browser):
    context = browser.new_context(user_agent=DESKTOP_CHROME)
    context.add_init_script(
        "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
    )
    page = context.new_page()
    sent = []
    page.on("request", lambda r: "/v1/" in r.url and sent.append(r.url))
    page.goto(site.spa(embedded.url, options(embedded, embedded.projects[0])))
    page.evaluate("th.track('nope'); th.flush()")
    page.wait_for_timeout(500)
    assert page.evaluate("th.enabled") is False
    assert page.evaluate("th.getVisitorId()") is None
    assert sent == [] and context.cookies() == []
    # opting out of the check tracks again
    page.goto(
        site.spa(embedded.url, options(embedded, embedded.projects[0], respectDoNotTrack=False))
    )
    assert page.evaluate("th.enabled") is True
    context.close()


def test_es_module_with_timed_events_super_properties_revenue_and_prefix(embedded, site, tab):
    project = embedded.projects[1]
    url = site.spa(embedded.url, options(embedded, project, eventPrefix="app."), module=True)
    tab.goto(url)
    tab.wait_for_function("window.th !== undefined")
    visitor = tab.evaluate("th.getVisitorId()")
    timed = tab.evaluate(
        """async () => {
        th.register({app_version: '2.1.0', env: 'test'});
        th.registerOnce({env: 'ignored', first_source: 'google'});
        th.unregister('first_source');
        th.timeEvent('Checkout Flow');
        th.timeEvent('Video');
        th.cancelTimeEvent('Video');
        await new Promise((r) => setTimeout(r, 120));
        const timers = th.getTimedEvents();
        const running = th.getEventDuration('Checkout Flow');
        th.track({event: 'Checkout Flow', channel: 'conversions', tags: {items: 3}});
        th.trackRevenue({amount: 99.99, currency: 'USD', orderId: 'o_1', productId: 'p_1'});
        const supers = th.getSuperProperties();
        th.clearSuperProperties();
        th.track('bare');
        await th.flush();
        return {timers, running, supers, after: th.getTimedEvents()};
    }"""
    )
    assert timed["timers"] == ["Checkout Flow"] and timed["after"] == []
    assert timed["running"] >= 100
    assert timed["supers"] == {"app_version": "2.1.0", "env": "test"}
    rows = {r["event"]: r for r in wait_rows(embedded, project, 4, visitor_id=visitor)}
    checkout = rows["app.Checkout Flow"]
    assert checkout["channel"] == "conversions"
    assert checkout["properties"]["items"] == 3 and checkout["properties"]["$duration"] >= 100
    assert checkout["duration_ms"] == checkout["properties"]["$duration"]  # the typed column
    assert checkout["properties"]["app_version"] == "2.1.0"
    revenue = rows["app.revenue"]
    assert revenue["channel"] == "__analytics"
    assert revenue["properties"] == {
        "app_version": "2.1.0",
        "env": "test",
        "amount": 99.99,
        "currency": "USD",
        "orderId": "o_1",
        "productId": "p_1",
    }
    assert rows["app.bare"]["properties"] == {}


def test_tracker_script_is_served_minified(embedded, built_tracker):
    script = httpx.get(f"{embedded.url}/t.js")
    assert script.status_code == 200
    assert script.content == (TRACKER / "dist" / "t.js").read_bytes()
    assert "dist/t.js" in built_tracker


# --- Kitbase's SDK contract (init({sdkKey, baseUrl}), Promise<TrackResponse>, typed errors) ---

ERROR_INFO = """(e) => ({
    name: e.name, message: e.message, statusCode: e.statusCode ?? null, field: e.field ?? null,
    response: e.response ?? null,
    classes: ['KitbaseError', 'ApiError', 'AuthenticationError', 'ValidationError', 'TimeoutError']
      .filter((c) => e instanceof trackhouse[c]),
})"""


def kitbase_options(embedded, project, **extra):
    return {"sdkKey": project["write_key"], "baseUrl": embedded.url, **extra}


def caught(page, call: str):
    """Runs ``await <call>`` in the page; the rejection as plain data (None if it resolved)."""
    return page.evaluate(
        f"async () => {{ try {{ await {call}; return null; }} catch (e) {{ "
        f"return ({ERROR_INFO})(e); }} }}"
    )


class SilentServer:
    """Accepts connections and never answers (for TimeoutError)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_kitbase_init_track_response_matches_the_stored_row(embedded, site, tab):
    """init({sdkKey, baseUrl}) from another origin; track() resolves to the stored row's
    {id, event, timestamp}; rows are enriched, sessionized and stitched to the user."""
    project = embedded.projects[0]
    user = f"u_{uuid.uuid4().hex}"
    tab.goto(site.spa(embedded.url, kitbase_options(embedded, project)))
    assert tab.evaluate("th.immediate") is True
    visitor = tab.evaluate("th.getVisitorId()")
    answers = tab.evaluate(
        """async (user) => {
        const before = await th.track({channel: 'payments', event: 'Purchase Completed',
            tags: {amount: 99.99, currency: 'USD', plan: 'premium'}, icon: '💰', notify: true,
            description: 'A customer just made a purchase'});
        th.identify(user, {plan: 'pro'});
        const after = await th.track({channel: 'users', event: 'Plan Viewed'});
        const revenue = await th.trackRevenue({amount: 5, currency: 'EUR', orderId: 'o_9'});
        await th.flush();
        return {before, after, revenue};
    }""",
        user,
    )
    for answer in answers.values():
        assert set(answer) == {"id", "event", "timestamp"}
        assert answer["timestamp"].endswith("Z")
        datetime.fromisoformat(answer["timestamp"])
    assert answers["before"]["event"] == "Purchase Completed"

    rows = {r["id"]: r for r in wait_rows(embedded, project, 5, visitor_id=visitor)}
    purchase = rows[answers["before"]["id"]]  # the TrackResponse's id is the stored row's
    assert purchase["event"] == "Purchase Completed" and purchase["channel"] == "payments"
    assert purchase["timestamp"][:19] == answers["before"]["timestamp"][:19]
    assert purchase["properties"] == {"amount": 99.99, "currency": "USD", "plan": "premium"}
    assert (purchase["icon"], purchase["notify"]) == ("💰", True)
    assert purchase["description"] == "A customer just made a purchase"
    assert rows[answers["after"]["id"]]["event"] == "Plan Viewed"
    revenue = rows[answers["revenue"]["id"]]
    assert revenue["channel"] == "__analytics"
    assert (revenue["revenue_amount"], revenue["revenue_currency"], revenue["order_id"]) == (
        5.0,
        "EUR",
        "o_9",
    )
    # enriched (user agent, page context), one session, every row stitched to the user
    assert (purchase["browser"], purchase["os"], purchase["device_type"]) == (
        "Chrome",
        "Linux",
        "desktop",
    )
    assert purchase["path"] == "/app/" and purchase["url"] == site.url + "/app/"
    assert (purchase["locale"], purchase["screen"]) == ("de-DE", "1440x900")
    rows = wait_rows(embedded, project, 5, visitor_id=visitor, user_id=user)
    events = {"pageview", "Purchase Completed", "identify", "Plan Viewed", "revenue"}
    assert {r["event"] for r in rows} == events
    assert len({r["session_id"] for r in rows}) == 1 and rows[0]["session_id"]


def test_kitbase_typed_errors(embedded, site, tab):
    project = embedded.projects[0]
    tab.goto(site.spa(embedded.url, kitbase_options(embedded, project)))
    # 401 -> AuthenticationError (an ApiError, a KitbaseError)
    bad_key = kitbase_options(embedded, project, sdkKey="th_wrong", autoPageviews=False)
    error = caught(
        tab,
        f"trackhouse.createTracker({json.dumps(bad_key)}).track({{channel: 'c', event: 'e'}})",
    )
    assert error["name"] == "AuthenticationError" and error["statusCode"] == 401
    assert error["classes"] == ["KitbaseError", "ApiError", "AuthenticationError"]
    assert error["response"]["error"]
    # the server refuses a bad event -> ValidationError naming the field
    error = caught(tab, "th.track({channel: 'c', event: 'x'.repeat(300)})")
    assert error["name"] == "ValidationError" and error["statusCode"] == 422
    assert error["field"] == "event"
    assert error["classes"] == ["KitbaseError", "ApiError", "ValidationError"]
    # refused before sending: Kitbase's TrackOptions need event and channel
    error = caught(tab, "th.track({event: 'no channel'})")
    assert (error["name"], error["field"]) == ("ValidationError", "channel")
    assert error["statusCode"] is None
    error = caught(tab, "th.track({channel: 'c'})")
    assert (error["name"], error["field"]) == ("ValidationError", "event")
    error = caught(tab, "th.trackRevenue({amount: '5', currency: 'USD'})")
    assert (error["name"], error["field"]) == ("ValidationError", "amount")
    # batched delivery reports the same typed errors to onError(error, events)
    batched = {**options(embedded, project), "autoPageviews": False, "autoTrack": False}
    reported = tab.evaluate(
        """async (options) => {
        const seen = [];
        const onError = (e, events) =>
            seen.push([e.name, e.statusCode ?? null, e.field ?? null, events.map((x) => x.event)]);
        const wrong = trackhouse.createTracker({...options, key: 'th_wrong', onError});
        wrong.track('queued');
        const refused = await wrong.flush();
        const right = trackhouse.createTracker({...options, onError});
        right.track('fine');
        right.track('y'.repeat(300));  // refused inside an accepted batch
        const partly = await right.flush();
        return {refused, partly, seen};
    }""",
        batched,
    )
    assert reported["refused"] is False and reported["partly"] is True
    assert reported["seen"] == [
        ["AuthenticationError", 401, None, ["queued"]],
        ["ValidationError", None, "event", ["y" * 300]],
    ]
    # init without a key is a ValidationError too (thrown at once)
    error = tab.evaluate(
        f"() => {{ try {{ trackhouse.init({{baseUrl: 'x'}}); }} catch (e) {{ "
        f"return ({ERROR_INFO})(e); }} }}"
    )
    assert (error["name"], error["field"]) == ("ValidationError", "sdkKey")


def test_kitbase_timeout_error_against_a_server_that_never_answers(embedded, site, tab):
    silent = SilentServer()
    try:
        options = {"sdkKey": "th_any", "baseUrl": silent.url, "timeout": 700}
        tab.goto(site.spa(embedded.url, {**options, "autoPageviews": False}))  # t.js: the edge
        started = time.monotonic()
        error = caught(tab, "th.track({channel: 'c', event: 'never answered'})")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert error["name"] == "TimeoutError" and "700 ms" in error["message"]
    assert error["classes"] == ["KitbaseError", "TimeoutError"]
    assert 0.6 < elapsed < 10
    assert silent.held  # the request reached the socket


def test_capture_event_follows_the_analyticskit_rules(embedded, site, tab):
    from trackhouse_sdk.analyticskit import to_track_kwargs

    project = embedded.projects[1]
    user = f"u_{uuid.uuid4().hex}"
    tab.goto(site.spa(embedded.url, kitbase_options(embedded, project), module=True))
    tab.wait_for_function("window.th !== undefined")
    visitor = tab.evaluate("th.getVisitorId()")
    captured = [
        ({"eventType": "error", "id": "payment_failed", "source": "iap",
          "longDescription": "Card declined"}, user),
        ({"eventType": "info", "id": "fetch_all_users", "source": "db"}, None),
        ({"eventType": "success", "id": "login", "source": "auth", "relevancy": "low"}, user),
    ]  # fmt: skip
    answers = tab.evaluate(
        """async (calls) => {
        const out = [];
        for (const [data, fromUserID] of calls) {
            out.push(await th.captureEvent({data, fromUserID: fromUserID || undefined}));
        }
        return out;
    }""",
        captured,
    )
    rows = {r["id"]: r for r in wait_rows(embedded, project, 4, visitor_id=visitor)}
    for (data, from_user), answer in zip(captured, answers, strict=True):
        expected = to_track_kwargs(data, from_user)  # the Python SDK's rules
        row = rows[answer["id"]]
        assert row["event"] == answer["event"] == expected["event"]
        assert row["channel"] == expected["channel"]
        assert row["properties"] == expected["properties"]
        assert row["notify"] == expected["notify"]
        assert row["description"] == (expected["description"] or "")
        # fromUserID links this visitor to the user: its other events are stitched to it too
        assert row["user_id"] == user
    # bad data is refused before sending, with the field
    for data, field in [
        ({"eventType": "warn", "id": "x", "source": "db"}, "eventType"),
        ({"eventType": "info", "source": "db"}, "id"),
        ({"eventType": "info", "id": "x"}, "source"),
        ({"eventType": "info", "id": "x", "source": "db", "relevancy": "urgent"}, "relevancy"),
    ]:
        error = caught(tab, f"th.captureEvent({{data: {json.dumps(data)}}})")
        assert (error["name"], error["field"]) == ("ValidationError", field)
    # the batching tracker has captureEvent too (resolves to the queued message id)
    batched = {**options(embedded, project), "autoPageviews": False, "autoTrack": False}
    message_id = tab.evaluate(
        f"""async () => {{
        const t = trackhouse.createTracker({json.dumps(batched)});
        const data = {{eventType: 'error', id: 'queued', source: 'x'}};
        const id = await t.captureEvent({{data}});
        await t.flush();
        return id;
    }}"""
    )
    assert message_id.startswith("msg_")
    [row] = wait_rows(embedded, project, 1, visitor_id=visitor, event="error_queued")
    assert (row["channel"], row["notify"], row["properties"]["relevancy"]) == ("x", True, "high")


def test_kitbase_track_and_queued_events_are_delivered_on_page_hide(embedded, site, tab):
    """A track() still in flight and the queued events (a declarative click) reach the edge
    when the page goes away: the fetch is keepalive, the queue leaves by sendBeacon."""
    project = embedded.projects[1]
    options = kitbase_options(embedded, project, flushInterval=60000)
    tab.goto(site.spa(embedded.url, options))
    visitor = tab.evaluate("th.getVisitorId()")
    tab.click("#buy")  # queued (declarative events are batched)
    tab.evaluate("() => { th.track({channel: 'nav', event: 'Leaving'}); }")  # not awaited
    assert tab.batch_requests == []  # nothing queued was sent yet (flushInterval: 60 s)
    tab.goto(site.url + "/other")
    # (the beacon outlives its page with HeadlessChrome's user agent, a bot: include bots)
    rows = wait_rows(embedded, project, 3, visitor_id=visitor, include_bots="true")
    assert sorted(r["event"] for r in rows) == ["Add to Cart", "Leaving", "pageview"]


def test_a_batch_over_the_keepalive_quota_is_still_sent(embedded, site, tab):
    """keepalive requests are capped at 64 KB: a bigger batch goes as a plain fetch."""
    project = embedded.projects[1]
    opts = options(embedded, project, batchSize=100, flushInterval=0, autoPageviews=False)
    tab.goto(site.spa(embedded.url, opts))
    visitor = tab.evaluate("th.getVisitorId()")
    sent = tab.evaluate(
        """async () => {
        for (let i = 0; i < 99; i++) th.track('big', {i, blob: 'x'.repeat(1000)});
        return await th.flush();
    }"""
    )
    assert sent is True
    assert len(tab.batch_requests[0].post_data) > 64 * 1024
    rows = wait_rows(embedded, project, 99, visitor_id=visitor, limit=100)
    assert sorted(r["properties"]["i"] for r in rows) == list(range(99))
