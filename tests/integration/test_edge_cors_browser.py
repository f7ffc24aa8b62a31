"""CORS in real headless Chromium, from a page on another origin: every dialect's browser path
may send events (AscendKit's public key header included); reads with a secret key are blocked
unless the origin is configured (none by default)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.browser_site import Site, chromium
from tests.integration.helpers import wait_rows

pytestmark = pytest.mark.slow

SEND = """async ([edge, key, visitor]) => {
  const answer = await fetch(edge + '/v1/analytics/collect', {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-AscendKit-Public-Key': key},
    body: JSON.stringify({event: 'cors_check', visitorId: visitor}),
  });
  return answer.status;
}"""
READ = """async ([edge, key]) => {
  try {
    const answer = await fetch(edge + '/v1/events', {headers: {'X-API-Key': key}});
    return answer.status;
  } catch (error) {
    return 'blocked';
  }
}"""


def test_chromium_sends_ascendkit_events_cross_origin_but_cannot_read(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    site = Site()
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.goto(site.url + "/other")
            sent = page.evaluate(SEND, [embedded.url, project["write_key"], visitor])
            assert sent == 202
            assert page.evaluate(READ, [embedded.url, project["secret_key"]]) == "blocked"
    finally:
        site.server.shutdown()
        site.server.server_close()
    # (HeadlessChrome is a bot to the enrichment; raw reads include bots either way)
    [row] = wait_rows(embedded, project, 1, visitor_id=visitor, include_bots="true")
    assert row["event"] == "cors_check"
