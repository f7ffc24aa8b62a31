"""Edge support for SDKs and browsers: gzip bodies, ``?key=`` for beacons, CORS, /t.js."""

from __future__ import annotations

import gzip
import uuid

import httpx
import orjson
import pytest

from tests.integration.helpers import wait_rows

pytestmark = pytest.mark.slow


def test_gzip_batch_is_accepted(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    body = gzip.compress(orjson.dumps({"events": [{"event": "zipped", "visitor_id": visitor}]}))
    response = httpx.post(
        f"{embedded.url}/v1/batch",
        content=body,
        headers={"X-API-Key": project["write_key"], "Content-Encoding": "gzip"},
    )
    assert response.status_code == 202, response.text
    assert wait_rows(embedded, project, 1, visitor_id=visitor)[0]["event"] == "zipped"
    bomb = gzip.compress(b'{"events":[' + b" " * 2_000_000 + b"]}")
    response = httpx.post(
        f"{embedded.url}/v1/batch",
        content=bomb,
        headers={"X-API-Key": project["write_key"], "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413, response.text


def test_beacon_key_in_query_only_for_batch(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    body = orjson.dumps({"events": [{"event": "beacon", "visitor_id": visitor}]})
    response = httpx.post(
        f"{embedded.url}/v1/batch",
        params={"key": project["write_key"]},
        content=body,
        headers={"Content-Type": "text/plain;charset=UTF-8"},  # what sendBeacon sends
    )
    assert response.status_code == 202, response.text
    assert wait_rows(embedded, project, 1, visitor_id=visitor)[0]["event"] == "beacon"
    # not a way to read: GET /v1/events and POST /v1/events still want the header
    reads = httpx.get(f"{embedded.url}/v1/events", params={"key": project["write_key"]})
    assert reads.status_code == 401
    single = httpx.post(
        f"{embedded.url}/v1/events", params={"key": project["write_key"]}, content=body
    )
    assert single.status_code == 401
    wrong = httpx.post(f"{embedded.url}/v1/batch", params={"key": "nope"}, content=body)
    assert wrong.status_code == 401


def test_cors_preflight_and_tracker_script(embedded):
    preflight = httpx.options(
        f"{embedded.url}/v1/batch",
        headers={
            "Origin": "http://shop.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] in ("*", "http://shop.test")
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    script = httpx.get(f"{embedded.url}/t.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
