"""The Python SDK (``trackhouse_sdk``) against a running embedded edge: rows read back with
GET /v1/events."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest
from trackhouse_sdk import (
    REVENUE_CHANNEL,
    ApiError,
    AuthenticationError,
    Client,
    TrackhouseError,
    ValidationError,
)

from tests.integration.helpers import fetch, wait_rows

pytestmark = pytest.mark.slow


def client_for(server, project, **options) -> Client:
    return Client(project["write_key"], server.url, flush_interval=0.2, **options)


def test_events_arrive_with_their_columns(embedded):
    project = embedded.projects[0]
    visitor, user = f"vis_{uuid.uuid4().hex}", f"u_{uuid.uuid4().hex}"
    client = client_for(embedded, project)
    mid = client.track(
        "Signed Up",
        {"plan": "pro", "seats": 3, "trial": True, "coupon": None},
        visitor_id=visitor,
        channel="users",
        icon="🎉",
        notify=True,
        description="a new signup",
    )
    client.page(
        "https://shop.test/pricing?utm_source=sdk",
        title="Pricing",
        referrer="https://www.google.com/",
        visitor_id=visitor,
    )
    client.revenue(99.99, "usd", order_id="o_1", product_id="p_pro", user_id=user)
    client.capture_event(
        {"eventType": "error", "id": "fetch_user", "source": "db", "longDescription": "boom"},
        from_user_id=user,
    )
    assert client.flush(10)
    assert client.shutdown()

    rows = {r["event"]: r for r in wait_rows(embedded, project, 2, visitor_id=visitor)}
    signup = rows["Signed Up"]
    assert signup["message_id"] == mid
    assert (signup["channel"], signup["icon"], signup["notify"]) == ("users", "🎉", True)
    assert signup["description"] == "a new signup"
    assert signup["properties"] == {"plan": "pro", "seats": 3, "trial": True, "coupon": None}
    page = rows["pageview"]
    assert (page["type"], page["path"], page["title"]) == ("page", "/pricing", "Pricing")
    assert (page["utm_source"], page["referrer_domain"]) == ("sdk", "google.com")

    rows = {r["event"]: r for r in wait_rows(embedded, project, 2, user_id=user)}
    revenue = rows["revenue"]
    assert revenue["channel"] == REVENUE_CHANNEL
    assert revenue["properties"] == {
        "amount": 99.99,
        "currency": "USD",
        "orderId": "o_1",
        "productId": "p_pro",
    }
    # ... and the typed revenue columns (normalize lifts them on the __analytics channel).
    typed = ("revenue_amount", "revenue_currency", "order_id", "product_id")
    assert tuple(revenue[c] for c in typed) == (99.99, "USD", "o_1", "p_pro")
    captured = rows["error_fetch_user"]
    assert captured["channel"] == "db" and captured["description"] == "boom"
    assert captured["properties"] == {"eventType": "error", "source": "db", "relevancy": "high"}
    assert captured["notify"] is True


def test_identify_stitches_earlier_anonymous_events(embedded):
    project = embedded.projects[0]
    visitor, user = f"vis_{uuid.uuid4().hex}", f"u_{uuid.uuid4().hex}"
    with client_for(embedded, project) as client:
        client.track("browse", visitor_id=visitor)
        client.page("https://shop.test/a", visitor_id=visitor)
        client.flush(10)
        client.identify(user, {"email": "x@shop.test"}, visitor_id=visitor)
        client.track("purchase", user_id=user)
    rows = wait_rows(embedded, project, 4, user_id=user)
    assert {r["event"] for r in rows} == {"browse", "pageview", "identify", "purchase"}
    assert all(r["user_id"] == user for r in rows)


class FlakyProxy:
    """Forwards to the real edge, but answers the first ``failures`` batches with 503."""

    def __init__(self, upstream: str, failures: int = 1) -> None:
        self.failures, self.requests, self.bodies = failures, [], []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.requests.append(self.path)
                proxy.bodies.append(body)
                if proxy.failures > 0:
                    proxy.failures -= 1
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error":"unavailable","message":"try later"}')
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = httpx.post(upstream + self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_503_is_retried_after_retry_after_and_stored_once(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    proxy = FlakyProxy(embedded.url, failures=1)
    errors = []
    try:
        client = Client(project["write_key"], proxy.url, on_error=lambda e, ev: errors.append(e))
        client.track("retried", {"n": 1}, visitor_id=visitor)
        client.track("retried", {"n": 2}, visitor_id=visitor)
        assert client.shutdown(30)
    finally:
        proxy.close()
    assert errors == []
    assert proxy.requests == ["/v1/batch", "/v1/batch"]
    assert proxy.bodies[0] == proxy.bodies[1]  # the same message_ids were re-sent
    rows = wait_rows(embedded, project, 2, visitor_id=visitor)
    assert sorted(r["properties"]["n"] for r in rows) == [1, 2]
    # a second delivery of the same batch (a retry after a lost answer) collapses
    resend = httpx.post(
        f"{embedded.url}/v1/batch",
        content=proxy.bodies[0],
        headers={"X-API-Key": project["write_key"], "Content-Encoding": "gzip"},
    )
    assert resend.status_code == 202, resend.text
    time.sleep(1.5)
    assert fetch(embedded, project, visitor_id=visitor)["pagination"]["total"] == 2


def test_4xx_is_a_typed_error_and_not_retried(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    proxy = FlakyProxy(embedded.url, failures=0)
    try:
        bad = Client("not-a-key", proxy.url, sync=True)
        with pytest.raises(AuthenticationError) as caught:
            bad.track("x", visitor_id=visitor)
        assert caught.value.status_code == 401 and isinstance(caught.value, ApiError)
        assert proxy.requests == ["/v1/events"]  # once: 4xx is never retried
        bad.shutdown()

        errors = []
        background = Client("not-a-key", proxy.url, on_error=lambda e, ev: errors.append((e, ev)))
        background.track("y", visitor_id=visitor)
        background.shutdown(10)
        assert len(errors) == 1 and isinstance(errors[0][0], AuthenticationError)
        assert errors[0][1]["event"] == "y"
    finally:
        proxy.close()

    sync = client_for(embedded, project, sync=True)
    with pytest.raises(ValidationError) as caught:  # refused by the server: 422 + field
        sync.track("x", visitor_id=visitor, context={"screen": {"width": -1, "height": 2}})
    assert caught.value.status_code == 422 and caught.value.field == "context.screen.width"
    with pytest.raises(ValidationError) as caught:  # refused before sending
        sync.track("x", {"nested": {"a": 1}}, visitor_id=visitor)
    assert caught.value.field == "properties.nested" and caught.value.status_code is None
    with pytest.raises(ValidationError) as caught:
        sync.track("x")
    assert caught.value.field == "visitor_id"
    answer = sync.track("ok", visitor_id=visitor)
    assert answer["event"] == "ok" and answer["id"]
    sync.shutdown()


def test_key_from_environment_or_construction_fails(monkeypatch):
    monkeypatch.delenv("TRACKHOUSE_KEY", raising=False)
    with pytest.raises(ValidationError) as caught:
        Client()
    assert caught.value.field == "key" and isinstance(caught.value, TrackhouseError)
    monkeypatch.setenv("TRACKHOUSE_KEY", "k_env")
    client = Client(sync=True)
    assert client.key == "k_env"
    client.shutdown()


class BlockedTransport(httpx.BaseTransport):
    """Holds every request until ``release`` is set; then answers 202."""

    def __init__(self) -> None:
        self.release, self.events = threading.Event(), 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.release.wait(30)
        batch = orjson.loads(gzip.decompress(request.read()))["events"]
        self.events += len(batch)
        return httpx.Response(202, json={"accepted": len(batch), "total": len(batch)})


def test_full_queue_drops_newest_and_counts(caplog):
    transport = BlockedTransport()
    client = Client("k", "http://sdk.test", batch_size=1, max_queue_size=5, transport=transport)
    ids = [client.track("e", {"i": i}, visitor_id="v") for i in range(8)]
    # the sender holds one or two events (it may dequeue while we enqueue), the queue five:
    # whatever arrives while the queue is full is dropped (the newest), and counted
    assert ids.count(None) == client.dropped >= 1 and ids[:5].count(None) == 0
    assert "queue full" in caplog.text
    transport.release.set()
    assert client.shutdown(10)
    assert transport.events == 8 - client.dropped


def test_no_loss_on_shutdown(embedded):
    project = embedded.projects[1]
    visitor = f"vis_{uuid.uuid4().hex}"
    client = Client(project["write_key"], embedded.url, batch_size=100, flush_interval=5)
    for i in range(500):
        client.track("bulk", {"i": i}, visitor_id=visitor)
    assert client.shutdown(60)
    rows = wait_rows(embedded, project, 500, visitor_id=visitor, limit=1000, timeout=60)
    assert sorted(r["properties"]["i"] for r in rows) == list(range(500))
    assert fetch(embedded, project, visitor_id=visitor)["pagination"]["total"] == 500
