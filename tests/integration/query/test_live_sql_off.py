"""Without an analyst token live SQL is off: 404 with a message that says how to turn it on."""

from __future__ import annotations

import httpx


def test_no_analyst_token_no_live_sql(embedded):
    for path in ("/clickhouse/?query=SELECT+1", "/clickhouse/ping"):
        answer = httpx.get(embedded.url + path, auth=("default", ""))
        assert answer.status_code == 404
    assert "TRACKHOUSE_ANALYST_TOKEN" in httpx.get(embedded.url + "/clickhouse/").text
