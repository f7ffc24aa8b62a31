"""Segment's analytics.js (``@segment/analytics-next``, pinned in tests/browser/package.json)
unchanged, in headless Chromium on a page of another origin: ``cdnURL`` points at the edge, which
serves the settings document; events go to the edge's ``/v1/t|p|i`` (standard delivery) and
``/v1/b`` (batching, flushed with keepalive on page hide). Rows are read back with GET
/v1/events: enriched, sessionized, and the anonymous events stitched to the identified user."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.browser_site import DESKTOP_CHROME, Site, chromium
from tests.integration.helpers import fetch, wait_rows

pytestmark = pytest.mark.slow
# A server with a patient backlog limit: a batch sent on page hide that met a 503 (the edge
# shedding load on a busy machine) could not be retried by the page that is gone.


@pytest.fixture(scope="module")
def embedded(patient_embedded):
    """A page-hide batch cannot be retried after a 503 (see ``patient_embedded``)."""
    return patient_embedded


ROOT = Path(__file__).resolve().parents[2]
LIBS = ROOT / "tests" / "browser"
VERSION = "1.84.3"

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>%(title)s</title></head>
<body><a id="away" href="/other">away</a>
<script>
// The page notes what analytics.js fetches (sessionStorage outlives the page being left).
const nativeFetch = window.fetch;
window.fetch = (url, init = {}) => {
  const sent = JSON.parse(sessionStorage.getItem('sent') || '[]');
  const method = (init.method || 'GET').toUpperCase();
  sent.push({url: String(url), method, keepalive: !!init.keepalive});
  sessionStorage.setItem('sent', JSON.stringify(sent));
  return nativeFetch(url, init);
};
</script>
<script src="/analytics.js"></script>
<script>
window.analytics = window.AnalyticsBrowser.load(%(settings)s, %(options)s);
</script></body></html>"""


@pytest.fixture(scope="module")
def analytics_js():
    """The npm package bundled into one script, as an app's bundler would (``npm ci`` first
    when tests/browser/node_modules is missing)."""
    npm = shutil.which("npm")
    assert npm, "node/npm are needed for the browser libraries"
    if not (LIBS / "node_modules" / ".package-lock.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LIBS, check=True)
    installed = json.loads(
        (LIBS / "node_modules" / "@segment" / "analytics-next" / "package.json").read_text()
    )
    assert installed["version"] == VERSION
    out = LIBS / "build" / "segment.js"
    subprocess.run(
        [
            str(LIBS / "node_modules" / ".bin" / "esbuild"),
            "segment-entry.js",
            "--bundle",
            "--format=iife",
            "--define:process.env.NODE_ENV=\"production\"",
            f"--outfile={out}",
        ],
        cwd=LIBS,
        check=True,
        capture_output=True,
    )
    return out.read_text()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


class SegmentSite(Site):
    """The shop's pages; ``/analytics.js`` is the bundled library."""

    def __init__(self, script: str) -> None:
        self.script = script
        super().__init__()

    def respond(self, path: str) -> tuple[bytes, str] | None:
        if path == "/analytics.js":
            return self.script.encode(), "text/javascript"
        return super().respond(path)

    def page(self, path: str, title: str, settings: dict, options: dict) -> str:
        self.pages[path] = PAGE % {
            "title": title,
            "settings": json.dumps(settings),
            "options": json.dumps(options),
        }
        return self.url + path


@pytest.fixture(scope="module")
def site(analytics_js):
    site = SegmentSite(analytics_js)
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture
def tab(browser):
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, locale="en-GB", screen={"width": 1440, "height": 900}
    )
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.failed = []
    page.on("response", lambda r: r.status >= 400 and page.failed.append(r.url))
    yield page
    context.close()


def sent(tab) -> list[dict]:
    """What the pages of this tab fetched so far (noted by the page itself)."""
    return [s for s in tab.evaluate("JSON.parse(sessionStorage.getItem('sent') || '[]')")]


def loaded(tab) -> bool:
    """Whether analytics.js finished loading (its settings fetched) within 15 s."""
    return tab.evaluate(
        """() => Promise.race([
            analytics.then(() => true),
            new Promise((ok) => setTimeout(() => ok(false), 15000)),
        ])"""
    )


def test_settings_document(embedded):
    """The CDN's settings route: the Segment.io integration pointed back at this edge; an
    unknown write key is 404, as on Segment's CDN."""
    key = embedded.projects[0]["write_key"]
    origin = {"Origin": "https://shop.example"}
    response = httpx.get(f"{embedded.url}/v1/projects/{key}/settings", headers=origin)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    segment_io = response.json()["integrations"]["Segment.io"]
    host = embedded.url.removeprefix("http://")
    assert (segment_io["apiKey"], segment_io["apiHost"]) == (key, f"{host}/v1")
    assert segment_io["protocol"] == "http"
    unknown = httpx.get(f"{embedded.url}/v1/projects/nope/settings", headers=origin)
    assert unknown.status_code == 404
    secret = embedded.projects[0]["secret_key"]
    assert httpx.get(f"{embedded.url}/v1/projects/{secret}/settings").status_code == 404
    # analytics.js' retries add X-Retry-Count: the preflight of its calls allows it
    preflight = httpx.options(
        f"{embedded.url}/v1/t",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert preflight.status_code == 200, preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-retry-count" in allowed and "authorization" in allowed


def test_analytics_next_page_track_identify_and_batch_on_page_hide(embedded, site, tab):
    project = embedded.projects[0]
    key = project["write_key"]
    user = f"user-{uuid.uuid4().hex[:12]}"
    host = embedded.url.removeprefix("http://")
    settings = {"writeKey": key, "cdnURL": embedded.url}
    standard = {"integrations": {"Segment.io": {"apiHost": f"{host}/v1", "protocol": "http"}}}
    tab.goto(site.page("/shop", "Shop", settings, standard) + "?utm_source=news&utm_medium=email")
    assert loaded(tab), tab.errors
    tab.evaluate("analytics.page()")
    tab.evaluate(
        "analytics.track('Product Viewed', {sku: 'sku-1', price: 19.5, tags: ['a', 'b'], "
        "plan: {tier: 'pro'}})"
    )
    anonymous = tab.evaluate("analytics.user().then((u) => u.anonymousId())")
    assert anonymous

    # the anonymous events are stored under the browser's anonymousId
    early = wait_rows(embedded, project, 2, visitor_id=anonymous)
    assert {r["event"] for r in early} == {"pageview", "Product Viewed"}
    tab.evaluate(f"analytics.identify('{user}', {{email: 'ann@example.com', plan: 'pro'}})")
    wait_rows(embedded, project, 1, user_id=user, event="identify")
    tab.evaluate("analytics.group('org-42', {name: 'Initech', employees: 420})")

    # The next page batches (only cdnURL changed: the settings document names the edge) and
    # its batch leaves when the page is hidden (keepalive).
    batching = {
        "integrations": {
            "Segment.io": {"deliveryStrategy": {"strategy": "batching", "config": {"size": 50}}}
        }
    }
    tab.goto(site.page("/cart", "Cart", settings, batching))
    assert loaded(tab), tab.errors
    tab.evaluate("analytics.track('Added to Cart', {sku: 'sku-1'})")
    tab.evaluate("analytics.track('Checkout Started', {step: 1})")
    assert not any(s["url"].endswith("/v1/b") for s in sent(tab))  # held in the batch
    tab.click("#away")
    tab.wait_for_url("**/other")

    rows = wait_rows(embedded, project, 6, user_id=user)
    by_event = {r["event"]: r for r in rows}
    assert set(by_event) == {
        "pageview",
        "Product Viewed",
        "identify",
        "$group",
        "Added to Cart",
        "Checkout Started",
    }
    requests = [(s["method"], s["url"].removeprefix(embedded.url), s["keepalive"]) for s in sent(tab)]  # noqa: E501
    settings_path = f"/v1/projects/{key}/settings"
    assert [r for r in requests if r[0] == "GET"] == [("GET", settings_path, False)] * 2
    posts = [(path, keepalive) for method, path, keepalive in requests if method == "POST"]
    # standard delivery: one call each; batching: one batch, sent with keepalive on page hide
    assert posts == [("/v1/p", False), ("/v1/t", False), ("/v1/i", False), ("/v1/g", False),
                     ("/v1/b", True)]  # fmt: skip
    view = by_event["pageview"]
    assert (view["type"], view["path"], view["title"]) == ("page", "/shop", "Shop")
    assert view["url"] == site.url + "/shop?utm_source=news&utm_medium=email"
    assert (view["utm_source"], view["utm_medium"]) == ("news", "email")
    assert (view["browser"], view["locale"], view["visitor_id"]) == ("Chrome", "en-GB", anonymous)
    assert view["user_id"] == user  # earlier anonymous events read as the user's
    viewed = by_event["Product Viewed"]
    assert viewed["properties"] == {
        "sku": "sku-1",
        "price": 19.5,
        "tags": '["a","b"]',
        "plan.tier": "pro",
    }
    assert viewed["session_id"] and viewed["session_id"] == by_event["Added to Cart"]["session_id"]
    assert by_event["identify"]["traits"] == {"email": "ann@example.com", "plan": "pro"}
    assert by_event["Checkout Started"]["path"] == "/cart"
    assert by_event["Added to Cart"]["visitor_id"] == anonymous
    group = by_event["$group"]["properties"]
    assert group == {"group_id": "org-42", "traits.name": "Initech", "traits.employees": 420}
    assert len(fetch(embedded, project, user_id=user)["events"]) == 6  # nothing twice
    assert [url for url in tab.failed if url.startswith(embedded.url)] == []
    assert [e for e in tab.errors if not e.startswith("Failed to load resource")] == []
