"""posthog-js, the real library from npm (pinned in ``tests/browser/posthog/package.json``), in
headless Chromium on a page served from another origin, against a running edge: page views, a
custom event, ``identify`` and page hide (``$pageleave`` by ``sendBeacon``); rows are read back
enriched, in one session, and stitched to the user. Needs ``chromium`` and npm (``make install``
runs ``npm ci`` there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.browser_site import DESKTOP_CHROME, chromium, serve
from tests.integration.helpers import fetch, wait_rows

pytestmark = pytest.mark.slow

PACKAGE = Path(__file__).resolve().parents[1] / "browser" / "posthog"
LIBRARY = PACKAGE / "node_modules" / "posthog-js" / "dist" / "array.full.js"

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<script src="/posthog.js"></script>
<script>posthog.init({token}, {config});</script>
</head><body><a id="pricing" href="/shop/pricing?utm_source=ads">Pricing</a></body></html>"""

# Playwright sets navigator.webdriver, which posthog-js (rightly) takes for a bot and drops every
# event; a visitor's browser does not set it. And sendBeacon calls are noted for the test.
REAL_VISITOR = """
Object.defineProperty(navigator, 'webdriver', {get: () => false});
window.beacons = [];
const sendBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => { window.beacons.push(url); return sendBeacon(url, data); };
"""
HIDE_PAGE = """() => {
    Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: false}));
}"""


@pytest.fixture(scope="module")
def library() -> bytes:
    """posthog-js's browser bundle, installed by ``npm ci`` from the pinned lock file."""
    if not LIBRARY.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the browser libraries (make install)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True)
    return LIBRARY.read_bytes()


class Site:
    """The site on its own origin: ``/posthog.js`` and a page for every ``/shop/`` path."""

    def __init__(self, library: bytes) -> None:
        self.init = ("", "{}")
        self.library = library
        self.server, self.url = serve(self.respond)

    def respond(self, path: str) -> tuple[bytes, str] | None:
        if path == "/posthog.js":
            return self.library, "text/javascript"
        if path.startswith("/shop"):
            title = "Pricing" if path.endswith("pricing") else "Shop"
            token, config = self.init
            return PAGE.format(title=title, token=token, config=config).encode(), "text/html"
        return None

    def shop(self, token: str, config: dict) -> str:
        self.init = (json.dumps(token), json.dumps(config))
        return self.url + "/shop/"


@pytest.fixture(scope="module")
def site(library):
    site = Site(library)
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def tab(browser):
    context = browser.new_context(
        user_agent=DESKTOP_CHROME,
        locale="de-DE",
        viewport={"width": 1000, "height": 700},
        screen={"width": 1440, "height": 900},
    )
    context.add_init_script(REAL_VISITOR)
    page = context.new_page()
    page.captures = []
    page.on("request", lambda r: r.method == "POST" and "/e/" in r.url and page.captures.append(r))
    yield page
    context.close()


def test_posthog_js_page_views_event_identify_and_page_hide(embedded, site, tab):
    """Issue 18: current posthog-js posts gzip as text/plain with no hint (400 before)."""
    project = embedded.projects[0]
    user = f"usr_{uuid.uuid4().hex[:10]}"
    tab.goto(site.shop(project["write_key"], {"api_host": embedded.url}))
    device = tab.evaluate("posthog.get_distinct_id()")  # anonymous: the device id
    tab.evaluate("posthog.capture('added to cart', {sku: 'A1', price: 9.5})")
    tab.click("#pricing")  # a second page load (the first page's queue leaves by beacon)
    # (the title is parsed before the library's script runs: wait for posthog-js itself)
    tab.wait_for_function(
        "document.title === 'Pricing' && window.posthog && window.posthog.__loaded === true"
    )
    assert tab.evaluate("posthog.get_distinct_id()") == device
    tab.evaluate(f"posthog.identify('{user}', {{email: 'a@shop.test'}})")
    assert tab.evaluate("posthog.get_distinct_id()") == user
    tab.evaluate("posthog.capture('checkout')")
    tab.evaluate(HIDE_PAGE)  # page hide: $pageleave and the queue by sendBeacon
    assert any("/e/" in url for url in tab.evaluate("window.beacons")), "no beacon sent"

    rows = wait_rows(embedded, project, 6, user_id=user)
    events = sorted(r["event"] for r in rows)
    assert events == ["$identify", "$pageleave", "$pageview", "$pageview", "added to cart",
                      "checkout"]  # fmt: skip
    assert {r["visitor_id"] for r in rows} == {device}  # the anonymous ones read as the user
    assert len({r["session_id"] for r in rows}) == 1
    pages = sorted((r for r in rows if r["event"] == "$pageview"), key=lambda r: r["timestamp"])
    assert [(p["type"], p["path"], p["title"]) for p in pages] == [
        ("page", "/shop/", "Shop"),
        ("page", "/shop/pricing", "Pricing"),
    ]
    assert pages[1]["utm_source"] == "ads"
    assert {(r["browser"], r["os"], r["locale"], r["screen"], r["is_bot"]) for r in pages} == {
        ("Chrome", "Linux", "de-DE", "1440x900", False)
    }
    cart = next(r for r in rows if r["event"] == "added to cart")
    assert (cart["properties"]["sku"], cart["properties"]["price"]) == ("A1", 9.5)
    assert cart["properties"]["$lib"] == "web"
    identify = next(r for r in rows if r["event"] == "$identify")
    assert identify["type"] == "identify" and identify["traits"]["email"] == "a@shop.test"

    # what the issue is about: gzip as text/plain, with neither a hint nor Content-Encoding
    zipped = [r for r in tab.captures if (r.post_data_buffer or b"")[:2] == b"\x1f\x8b"]
    assert zipped, [r.url for r in tab.captures]
    assert all("compression" not in r.url for r in zipped)
    assert {r.headers.get("content-type") for r in zipped} == {"text/plain"}
    assert not any("content-encoding" in r.headers for r in zipped)

    sessions = wait_rows(embedded, project, 1, "/v1/sessions", visitor_id=device)
    assert [(s["events"], s["pageviews"]) for s in sessions] == [(6, 2)]
    time.sleep(1)
    assert fetch(embedded, project, visitor_id=device)["pagination"]["total"] == 6
