"""Who the edge trusts: X-Forwarded-For only from configured proxies, rate limits per key for
accepted events, slow or oversized requests cut off, CORS by route."""

from __future__ import annotations

import http.client
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.server import Server, cli, wait_for

RATE, BURST = 20, 40
KEEP_ALIVE = 7  # seconds; uvicorn's own default is 5
DASHBOARD = "http://dash.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("trust") / "data"
    project = cli(data_dir, "projects", "create", "trust")
    env = {
        "TRACKHOUSE_TRUSTED_PROXIES": "",  # the default: no proxy in front
        "TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": str(RATE),
        "TRACKHOUSE_RATE_LIMIT_BURST_EVENTS": str(BURST),
        "TRACKHOUSE_HTTP_HEADER_TIMEOUT_SECONDS": "1",
        "TRACKHOUSE_HTTP_BODY_TIMEOUT_SECONDS": "1",
        "TRACKHOUSE_HTTP_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        "TRACKHOUSE_CORS_ORIGINS": DASHBOARD,
    }
    running = Server(data_dir, env=env).start()
    running.project = project
    yield running
    assert running.stop() == 0, running.log()


def post_batch(server: Server, key: str, events: list, headers: dict | None = None):
    return httpx.post(
        f"{server.url}/v1/batch",
        json={"events": events},
        headers={"X-API-Key": key, **(headers or {})},
    )


def test_forwarded_for_from_loopback_is_ignored_without_trusted_proxies(server):
    visitor = f"vis_{uuid.uuid4().hex}"
    events = [{"event": "xff", "visitor_id": visitor}]
    # 81.2.69.142 is London in the bundled database; 127.0.0.1 is nowhere.
    forwarded = {"X-Forwarded-For": "81.2.69.142"}
    response = post_batch(server, server.project["write_key"], events, forwarded)
    assert response.status_code == 202, response.text
    headers = {"X-API-Key": server.project["secret_key"]}

    def rows():
        url = f"{server.url}/v1/events"
        return httpx.get(url, params={"visitor_id": visitor}, headers=headers).json()["events"]

    [row] = wait_for(rows, 30)
    assert (row["country"], row["city"]) in (("", ""), (None, None)), row


def test_rate_limit_is_per_key_and_counts_only_accepted_events(server):
    write, secret = server.project["write_key"], server.project["secret_key"]
    time.sleep(BURST / RATE)  # full buckets
    junk = [{"visitor_id": "v"}] * 100  # no event name: every one refused

    def junk_batch(_):
        return post_batch(server, write, junk).status_code

    def valid_batch(_):
        return post_batch(server, secret, [{"event": "ok", "visitor_id": "v"}]).status_code

    with ThreadPoolExecutor(4) as pool:  # both keys at once, as in the report
        junk_sent = [pool.submit(junk_batch, n) for n in range(24)]
        valid_sent = [pool.submit(valid_batch, n) for n in range(24)]
        junk_statuses = [f.result() for f in junk_sent]
        valid_statuses = [f.result() for f in valid_sent]
    assert all(400 <= s < 500 and s != 429 for s in junk_statuses), junk_statuses
    assert valid_statuses.count(202) == 24, valid_statuses

    # One key spending its budget leaves the other key of the project alone.
    spent = post_batch(server, secret, [{"event": "ok", "visitor_id": "v"}] * BURST)
    assert spent.status_code == 429 and int(spent.headers["Retry-After"]) >= 1
    assert post_batch(server, write, [{"event": "ok", "visitor_id": "v"}]).status_code == 202


def raw_exchange(server: Server, payload: bytes, wait: float = 0.0) -> bytes:
    """Send ``payload`` on a fresh connection, then read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(payload)
        if wait:
            time.sleep(wait)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_oversized_headers_get_431(server):
    response = httpx.get(f"{server.url}/healthz", headers={"X-Padding": "x" * 17_000})
    assert response.status_code == 431
    many = {f"X-Pad-{i}": "y" * 100 for i in range(200)}  # 20 KB in many small headers
    assert httpx.get(f"{server.url}/healthz", headers=many).status_code == 431
    assert httpx.get(f"{server.url}/healthz", headers={"X-Small": "z" * 8000}).status_code == 200


def test_slow_clients_are_cut_off(server):
    started = time.monotonic()
    answer = raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 5
    assert raw_exchange(server, b"").startswith(b"HTTP/1.1 408")  # connected, sent nothing

    key = server.project["write_key"].encode()
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + key + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_exchange(server, head + b'{"events": [')
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 5
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def preflight(server: Server, path: str, method: str, origin: str, headers: str):
    return httpx.options(
        server.url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/batch", "content-type,x-api-key"),
        ("/v1/events", "content-type,authorization,content-encoding"),
        ("/v1/analytics/collect", "content-type,x-ascendkit-public-key"),
        ("/api/v1/analytics/collect", "content-type,x-ascendkit-public-key"),
        ("/e/", "content-type"),
        ("/sdk/v1/logs/batch", "content-type,x-api-key"),
        ("/api/v1/events", "content-type"),
    ],
)
def test_ingest_routes_allow_any_origin(server, path, headers):
    answer = preflight(server, path, "POST", "https://shop.test", headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in headers.split(",")), allowed
    sent = httpx.post(
        server.url + "/v1/batch",
        json={"events": [{"event": "cors", "visitor_id": "v"}]},
        headers={"Origin": "https://shop.test", "X-API-Key": server.project["write_key"]},
    )
    assert sent.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("path", "method"),
    [("/v1/events", "GET"), ("/v1/sessions", "GET"), ("/admin/v1/projects", "POST")],
)
def test_read_and_admin_routes_allow_only_configured_origins(server, path, method):
    refused = preflight(server, path, method, "https://shop.test", "x-api-key")
    assert refused.headers.get("access-control-allow-origin") is None, refused.headers
    allowed = preflight(server, path, method, DASHBOARD, "x-api-key")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    read = httpx.get(
        f"{server.url}/v1/events",
        headers={"Origin": "https://shop.test", "X-API-Key": server.project["secret_key"]},
    )
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


def test_large_bodies_and_idle_kept_alive_connections_are_not_cut_off(server):
    key = server.project["write_key"]
    time.sleep(BURST / RATE)  # full bucket
    padding = {"a": "p" * 4500, "b": "q" * 4500}
    events = [{"event": "big", "visitor_id": "v", "properties": padding}] * 40
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}) as client:
        big = client.post("/v1/batch", json={"events": events})  # ~360 KB, head and body at once
        assert big.status_code == 202, big.text
        time.sleep(1.5)  # longer than the header timeout, shorter than keep-alive
        again = client.get("/healthz")
        assert again.status_code == 200
        assert client.get("/healthz").status_code == 200


def test_idle_kept_alive_connection_is_reused_after_a_polling_period_then_closed(server):
    def idle_then(seconds: float) -> tuple[int, float]:
        """The status of a second request on one connection after ``seconds`` idle, or how
        long the server kept the connection before closing it (when ``seconds`` is 0).
        ``http.client`` does not reconnect: a request on a closed connection raises."""
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("GET", "/healthz")
            first = connection.getresponse()
            first.read()
            assert first.status == 200
            idle_from = time.monotonic()
            if not seconds:
                assert connection.sock.recv(1) == b""  # the server closed it
                return 0, time.monotonic() - idle_from
            time.sleep(seconds)
            connection.request("GET", "/healthz")
            again = connection.getresponse()
            again.read()
            return again.status, 0.0
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        reused = pool.submit(idle_then, 6)  # the dashboard polls every 5 s
        closed = pool.submit(idle_then, 0)
        status, _ = reused.result()
        _, kept_for = closed.result()
    assert status == 200
    assert KEEP_ALIVE - 0.5 <= kept_for <= KEEP_ALIVE + 3, kept_for
