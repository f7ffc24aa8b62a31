"""The web site the browser tests load the tracker into: a small SPA on its own origin (the
built ``/t.js`` from the edge, or the unbuilt ES module), and the Chromium flags they use."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRACKER = ROOT / "tracker"
# HeadlessChrome's own user agent is (rightly) classified as a bot and left out of reads.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

SPA = """<!doctype html><html><head><meta charset="utf-8"><title>Home</title></head><body>
<a id="to-pricing" href="/app/pricing">Pricing</a>
<button id="buy" data-kb-track-click="Add to Cart" data-kb-click-channel="ecommerce">Buy</button>
<div style="height: 3000px"></div>
<section id="plans" data-kb-track-visibility="Plans Viewed" data-kb-visibility-channel="marketing"
  data-kb-visibility-threshold="0.75" style="height: 200px">plans</section>
<div id="late"></div>
%(loader)s
<script>
document.getElementById('to-pricing').addEventListener('click', (e) => {
  e.preventDefault();
  history.pushState({}, '', '/app/pricing');
  document.title = 'Pricing';
});
window.addEventListener('popstate', () => {
  document.title = location.pathname.endsWith('/pricing') ? 'Pricing' : 'Home';
});
</script></body></html>"""

SCRIPT_LOADER = """<script src="%(edge)s/t.js"></script>
<script>window.th = trackhouse.init(%(options)s);</script>"""
MODULE_LOADER = """<script type="module">
import * as trackhouse from '/src/tracker.js';
window.trackhouse = trackhouse;
window.th = trackhouse.init(%(options)s);
</script>"""


def npm_build(project: Path) -> str:
    """``npm ci`` (when its node_modules are missing) and ``npm run build`` in ``project``:
    the edge then serves the fresh build. Returns the build's output."""
    npm = shutil.which("npm")
    assert npm, f"node/npm are needed to build {project.name}"
    if not (project / "node_modules" / ".package-lock.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=project, check=True)
    out = subprocess.run(
        [npm, "run", "build"], cwd=project, check=True, capture_output=True, text=True
    )
    return out.stdout


@contextmanager
def chromium() -> Iterator:
    """Debian's headless Chromium through Playwright (its own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "chromium is missing: apt-get install -y chromium (make test does it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def serve(respond: Callable[[str], tuple[bytes, str] | None]) -> tuple[ThreadingHTTPServer, str]:
    """A loopback web server of its own origin: ``respond(path)`` gives (body, content type),
    or None for 404. Returns the server (running in a thread) and its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            answer = respond(self.path.split("?")[0])
            if answer is None:
                self.send_error(404)
                return
            body, kind = answer
            self.send_response(200)
            self.send_header("Content-Type", kind + "; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class Site:
    """The web site under test, on its own origin: the SPA for every /app/ path."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {
            "/other": "<!doctype html><title>Other</title><p>other page</p>"
        }
        self.server, self.url = serve(self.respond)

    def respond(self, path: str) -> tuple[bytes, str] | None:
        source = TRACKER / "src" / path.removeprefix("/src/")
        if path.startswith("/src/") and path.endswith(".js") and source.is_file():
            return source.read_bytes(), "text/javascript"  # the unbuilt module
        if path.startswith("/app"):
            return self.pages["app"].encode(), "text/html"
        if path in self.pages:
            return self.pages[path].encode(), "text/html"
        return None

    def spa(self, edge: str, options: dict, module: bool = False) -> str:
        loader = MODULE_LOADER if module else SCRIPT_LOADER
        self.pages["app"] = SPA % {
            "loader": loader % {"edge": edge, "options": json.dumps(options)}
        }
        return self.url + "/app/"
