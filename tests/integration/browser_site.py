"""The web site the browser tests load the tracker into: a small SPA on its own origin (the
built ``/t.js`` from the edge, or the unbuilt ES module), and the Chromium flags they use."""

from __future__ import annotations

import json
import threading
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


class Site:
    """The web site under test, on its own origin: the SPA for every /app/ path."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                source = TRACKER / "src" / path.removeprefix("/src/")
                if path.startswith("/src/") and path.endswith(".js") and source.is_file():
                    body, kind = source.read_bytes(), "text/javascript"  # the unbuilt module
                elif path.startswith("/app"):
                    body, kind = site.pages["app"].encode(), "text/html"
                elif path in site.pages:
                    body, kind = site.pages[path].encode(), "text/html"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind + "; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.pages["/other"] = "<!doctype html><title>Other</title><p>other page</p>"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spa(self, edge: str, options: dict, module: bool = False) -> str:
        loader = MODULE_LOADER if module else SCRIPT_LOADER
        self.pages["app"] = SPA % {
            "loader": loader % {"edge": edge, "options": json.dumps(options)}
        }
        return self.url + "/app/"
