"""``trackhouse_sdk.Client`` against a scripted transport: batching, retries, typed errors."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
from trackhouse_sdk import (
    ApiError,
    AuthenticationError,
    Client,
    NetworkError,
    TimeoutError,
    ValidationError,
)
from trackhouse_sdk.analyticskit import to_track_kwargs


class Script(httpx.BaseTransport):
    """Answers requests from a list of (status, headers, body) or exceptions; then 202."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.batches: list[list[dict]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        doc = json.loads(body)
        events = doc.get("events", [doc])
        self.batches.append(events)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return httpx.Response(202, json={"accepted": len(events), "total": len(events)})
        status, headers, json_body = answer
        return httpx.Response(status, headers=headers, json=json_body)


def make(transport, **options):
    errors = []
    client = Client(
        "k",
        "http://sdk.test",
        transport=transport,
        on_error=lambda e, ev: errors.append((e, ev)),
        **{"backoff_base": 0.01, "flush_interval": 0.05, **options},
    )
    return client, errors


UNAVAILABLE = (503, {"Retry-After": "0.3"}, {"error": "unavailable", "message": "later"})


def test_retries_5xx_429_and_network_errors_then_delivers_once():
    transport = Script(
        UNAVAILABLE,
        (429, {}, {"error": "rate_limited", "message": "slow down"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    )
    client, errors = make(transport)
    started = time.monotonic()
    mid = client.track("a", {"x": 1}, visitor_id="v")
    assert client.shutdown(10)
    assert time.monotonic() - started >= 0.3  # Retry-After was honoured
    assert errors == []
    assert len(transport.requests) == 5
    assert {e["message_id"] for batch in transport.batches for e in batch} == {mid}
    request = transport.requests[-1]
    assert request.headers["x-api-key"] == "k" and request.url.path == "/v1/batch"
    assert request.headers["content-encoding"] == "gzip"


def test_gives_up_after_max_retries_with_the_typed_error():
    transport = Script(*[(503, {}, UNAVAILABLE[2])] * 3)
    client, errors = make(transport, max_retries=2)
    client.track("a", visitor_id="v")
    client.shutdown(10)
    assert len(transport.requests) == 3
    [(error, event)] = errors
    assert type(error) is ApiError and error.status_code == 503 and event["event"] == "a"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, ValidationError), (401, AuthenticationError), (413, ApiError), (422, ValidationError)],
)
def test_4xx_is_never_retried(status, kind):
    body = {"error": "invalid_field", "message": "properties.x: bad", "field": "properties.x"}
    transport = Script((status, {}, body))
    client, errors = make(transport)
    client.track("a", visitor_id="v")
    client.shutdown(10)
    assert len(transport.requests) == 1
    [(error, _)] = errors
    assert type(error) is kind and error.status_code == status and error.response == body
    if kind is ValidationError:
        assert error.field == "properties.x"


def test_batch_item_errors_are_reported_per_event():
    answer = {
        "accepted": 1,
        "total": 2,
        "errors": [{"index": 1, "error": "invalid_field", "message": "m", "field": "context"}],
    }
    client, errors = make(Script((202, {}, answer)), batch_size=2)
    client.track("good", visitor_id="v")
    client.track("bad", visitor_id="v")
    client.shutdown(10)
    [(error, event)] = errors
    assert isinstance(error, ValidationError) and error.field == "context"
    assert event["event"] == "bad"


def test_batches_by_size_count_and_bytes():
    transport = Script()
    client, _ = make(transport, batch_size=50, flush_interval=5)
    big = "x" * 30_000
    for i in range(40):
        client.track("big", {"i": i, "blob": big}, visitor_id="v")
    for i in range(120):
        client.track("small", {"i": i}, visitor_id="v")
    assert client.flush(10)
    client.shutdown()
    sizes = [
        len(json.dumps({"events": b}, separators=(",", ":")).encode()) for b in transport.batches
    ]
    assert max(sizes) <= 480 * 1024
    assert max(len(b) for b in transport.batches) <= 50
    assert sum(len(b) for b in transport.batches) == 160


def test_sync_mode_raises_typed_errors():
    transport = Script(
        (401, {}, {"error": "unauthorized", "message": "no"}),
        httpx.ReadTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.ConnectError("refused"),
        (202, {}, {"id": "1", "event": "a", "timestamp": "t"}),
    )
    client = Client("k", "http://sdk.test", sync=True, transport=transport, max_retries=1)
    client._wait_backoff = lambda _state: 0
    with pytest.raises(AuthenticationError):
        client.track("a", visitor_id="v")
    with pytest.raises(TimeoutError):
        client.track("a", visitor_id="v")
    with pytest.raises(NetworkError):
        client.track("a", visitor_id="v")
    assert client.track("a", visitor_id="v")["id"] == "1"
    assert transport.requests[-1].url.path == "/v1/events"


def test_local_validation():
    client = Client("k", sync=True, transport=Script())
    with pytest.raises(ValidationError) as caught:
        client.track("", visitor_id="v")
    assert caught.value.field == "event"
    with pytest.raises(ValidationError) as caught:
        client.identify("")
    assert caught.value.field == "user_id"
    with pytest.raises(ValidationError) as caught:
        client.track("a", {"blob": "x" * 40_000}, visitor_id="v")
    assert caught.value.error == "payload_too_large"
    with pytest.raises(ValidationError) as caught:
        client.revenue("12", "USD", user_id="u")
    assert caught.value.field == "properties.amount"


def test_capture_event_mapping():
    info = to_track_kwargs({"eventType": "info", "id": "fetch_all_users", "source": "db"})
    assert info["event"] == "info_fetch_all_users" and info["channel"] == "db"
    assert info["properties"]["relevancy"] == "medium" and info["notify"] is False
    assert info["visitor_id"] == "backend:db" and info["user_id"] is None
    error = to_track_kwargs(
        {"eventType": "error", "id": "x", "source": "auth", "longDescription": "why"}, "u1"
    )
    assert error["properties"]["relevancy"] == "high" and error["description"] == "why"
    assert error["user_id"] == "u1" and error["visitor_id"] is None
    low = to_track_kwargs({"eventType": "success", "id": "x", "source": "iap", "relevancy": "low"})
    assert low["properties"]["relevancy"] == "low"
    for bad, field in (
        ({"eventType": "warn", "id": "x", "source": "db"}, "eventType"),
        ({"eventType": "info", "source": "db"}, "id"),
        ({"eventType": "info", "id": "x"}, "source"),
    ):
        with pytest.raises(ValidationError) as caught:
            to_track_kwargs(bad)
        assert caught.value.field == field


def test_event_prefix_option_as_ascendkit_sdk_applies_it():
    transport = Script()
    client = Client("thw_k", sync=True, transport=transport, event_prefix="app.")
    client.track("checkout.completed", user_id="u")
    client.track("app.already", user_id="u")
    assert [b[0]["event"] for b in transport.batches] == ["app.checkout.completed", "app.already"]
