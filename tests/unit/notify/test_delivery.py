"""The delivery worker against a real local SMTP server (aiosmtpd), and the retry policy."""

from __future__ import annotations

import asyncio
import time
from email.header import decode_header, make_header

import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from pipeline import retries
from pipeline.notify.config import Destination
from pipeline.notify.delivery import DeliveryWorker, retry_after_of
from pipeline.notify.store import Pending
from pipeline.settings import Settings
from tests.integration.server import free_port, wait_for


class MemoryStore:
    """The store's part the worker uses, in memory."""

    def __init__(self) -> None:
        self.pending: list[Pending] = []
        self.attempts: list = []
        self.status: dict[str, str] = {}

    def outbox(self, status: str, _project=None, _limit=0, _since=0, **_scan) -> list[Pending]:
        return [p for p in self.pending if self.status.get(p.delivery_id, "pending") == status]

    def record(self, attempts) -> None:
        self.attempts.extend(attempts)

    def set_statuses(self, changes) -> None:
        for d, status in changes:
            self.status[d.delivery_id] = status


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


def pending(event_id: str, destination: str) -> Pending:
    payload = orjson.dumps({"event_id": event_id, "event": "signup", "icon": "🎉"}).decode()
    return Pending(f"{event_id}:{destination}", "p", destination, "default", event_id, 1, payload)


def run_worker(store, destinations, **settings) -> DeliveryWorker:
    defaults = {"notify_retry_base_seconds": 0.05, "notify_retry_max_seconds": 0.1}
    worker = DeliveryWorker(store, lambda: destinations, Settings(**{**defaults, **settings}))
    worker.start()
    return worker


def test_an_email_destination_sends_through_the_smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        store = MemoryStore()
        mail = Destination("p", "d1", "ops", "email", email_to="ops@example.com")
        worker = run_worker(
            store, {"d1": mail}, smtp_host="127.0.0.1", smtp_port=controller.port,
            smtp_from="alerts@example.com",
        )  # fmt: skip
        worker.submit([pending("e1", "d1")])
        assert wait_for(lambda: store.status.get("e1:d1") == "sent", 10), store.attempts
        worker.stop()
    finally:
        controller.stop()
    [message] = inbox.messages
    assert message["To"] == "ops@example.com" and message["From"] == "alerts@example.com"
    assert str(make_header(decode_header(message["Subject"]))) == "[Trackhouse] 🎉 signup"
    assert [(a.status, a.response_code) for a in store.attempts] == [("sent", 250)]


def test_without_an_smtp_server_an_email_is_a_dead_letter_at_once():
    store = MemoryStore()
    worker = run_worker(store, {"d1": Destination("p", "d1", "ops", "email", email_to="a@b.c")})
    worker.submit([pending("e1", "d1")])
    assert wait_for(lambda: store.status.get("e1:d1") == "dead", 10)
    worker.stop()
    assert [a.status for a in store.attempts] == ["failed", "dead"]
    assert "TRACKHOUSE_SMTP_HOST" in store.attempts[0].error


def test_a_dead_destination_does_not_hold_up_another():
    """A webhook that never answers (a port nobody listens on) retries; email goes on."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        store = MemoryStore()
        destinations = {
            "dead": Destination("p", "dead", "x", "webhook", url=f"http://127.0.0.1:{free_port()}"),
            "mail": Destination("p", "mail", "y", "email", email_to="a@b.c"),
        }
        worker = run_worker(store, destinations, smtp_host="127.0.0.1", smtp_port=controller.port)
        worker.submit([pending(f"e{i}", "dead") for i in range(20)])
        worker.submit([pending(f"m{i}", "mail") for i in range(5)])
        assert wait_for(lambda: len(inbox.messages) == 5, 10)
        assert not any(store.status.get(f"e{i}:dead") for i in range(20))
        worker.stop()
    finally:
        controller.stop()


def test_the_retry_policy_waits_what_retry_after_asks():
    calls: list[float] = []

    async def deliver() -> None:
        async for attempt in retries.notify_async(lambda _e: None, 0.01, 0.02, 10):
            with attempt:
                calls.append(time.monotonic())
                if len(calls) < 2:
                    error = retries.RetryableError("429")
                    error.retry_after = 0.5
                    raise error

    asyncio.run(deliver())
    assert calls[1] - calls[0] >= 0.5


def test_the_retry_policy_gives_up_after_its_time_and_never_retries_a_refusal():
    async def failing(kind: type[Exception]) -> int:
        count = 0
        with pytest.raises(kind):
            async for attempt in retries.notify_async(lambda _e: None, 0.01, 0.02, 0.3):
                with attempt:
                    count += 1
                    raise kind("no")
        return count

    assert asyncio.run(failing(retries.RetryableError)) > 3
    assert asyncio.run(failing(ValueError)) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("1.5", 1.5), (None, 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("-4", 0.0)],
)
def test_retry_after_in_seconds(value, seconds):
    assert retry_after_of(value) == seconds
