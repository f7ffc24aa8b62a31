"""Webhook signatures and the chat payloads."""

from __future__ import annotations

import hashlib
import hmac
import time

import orjson

from pipeline.notify import payloads
from pipeline.notify.config import Destination
from pipeline.notify.store import Pending

EVENT = {"event_id": "e1", "event": "signup", "icon": "🎉", "channel": "growth",
         "description": "a new user", "user_id": "u1", "timestamp": 1_700_000_000_000}  # fmt: skip


def pending() -> Pending:
    return Pending(
        "e1:d1", "p", "d1", "default", "e1", 1_700_000_000_000, orjson.dumps(EVENT).decode()
    )


def test_the_webhook_is_signed_over_timestamp_and_body_with_the_event_id_as_key():
    headers, body = payloads.webhook(Destination("p", "d1", "n", "webhook", secret="s3"), pending())
    timestamp = headers["X-Trackhouse-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    expected = hmac.new(b"s3", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Trackhouse-Signature"] == f"v1={expected}"
    assert headers["Idempotency-Key"] == "e1"
    document = orjson.loads(body)
    assert document["id"] == "e1" and document["event"] == EVENT
    assert payloads.verify("s3", timestamp, body, headers["X-Trackhouse-Signature"])
    assert not payloads.verify("other", timestamp, body, headers["X-Trackhouse-Signature"])
    assert not payloads.verify("s3", timestamp, body + b" ", headers["X-Trackhouse-Signature"])
    old = str(int(timestamp) - 3600)  # a replayed request: its timestamp is too old
    assert not payloads.verify("s3", old, body, payloads.sign("s3", old, body))


def test_slack_and_discord_shapes():
    slack = payloads.slack(EVENT)
    assert slack["text"] == "🎉 signup"
    assert {"title": "user_id", "value": "u1", "short": True} in slack["attachments"][0]["fields"]
    discord = payloads.discord(EVENT)
    assert discord["embeds"][0]["description"] == "a new user"
    assert discord["embeds"][0]["timestamp"].startswith("2023-11-14T22:13:20")


def test_email_names_the_event():
    message = payloads.email(
        Destination("p", "d1", "n", "email", email_to="a@b.c"), pending(), "t@x"
    )
    assert message["Subject"] == "[Trackhouse] 🎉 signup" and message["To"] == "a@b.c"
    assert "event id: e1" in message.get_content()
