"""What a delivery sends: a signed webhook, a Slack or Discord incoming-webhook message, an email.

Webhook: ``POST`` of ``{"id", "delivery_id", "project_id", "rule_id", "created_at", "event"}``
with ``X-Trackhouse-Timestamp`` (Unix seconds), ``X-Trackhouse-Signature: v1=<hex>`` =
HMAC-SHA-256 with the destination's secret over ``"<timestamp>." + body``, and
``Idempotency-Key`` = the event id (the same for every attempt)."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import orjson

from pipeline.notify.config import Destination
from pipeline.notify.store import Pending

KEY_FIELDS = ("channel", "user_id", "visitor_id", "revenue_amount", "revenue_currency", "path")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance: float = 300
) -> bool:
    """What a receiver checks: the signature, and a timestamp no older than ``tolerance`` s."""
    fresh = abs(time.time() - float(timestamp or 0)) <= tolerance
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def event_of(pending: Pending) -> dict[str, Any]:
    return orjson.loads(pending.payload)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def title_of(event: dict[str, Any]) -> str:
    icon = event.get("icon") or ""
    name = event.get("event") or "event"
    return f"{icon} {name}".strip()


def key_fields(event: dict[str, Any]) -> list[tuple[str, str]]:
    fields = [(k, str(event[k])) for k in KEY_FIELDS if event.get(k) not in (None, "")]
    if event.get("alert"):
        fields += [(k, str(event[k])) for k in ("count", "threshold", "window_seconds")]
    return fields


def webhook(destination: Destination, pending: Pending) -> tuple[dict[str, str], bytes]:
    body = orjson.dumps(
        {
            "id": pending.event_id,
            "delivery_id": pending.delivery_id,
            "project_id": pending.project_id,
            "rule_id": pending.rule_id,
            "created_at": _iso(pending.created_at),
            "event": orjson.Fragment(pending.payload),
        }
    )
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Trackhouse-Webhooks/1",
        "X-Trackhouse-Timestamp": timestamp,
        "X-Trackhouse-Signature": sign(destination.secret, timestamp, body),
        "X-Trackhouse-Delivery": pending.delivery_id,
        "Idempotency-Key": pending.event_id,
    }
    return headers, body


def slack(event: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook message (also what Mattermost, Rocket.Chat take)."""
    return {
        "text": title_of(event),
        "username": "Trackhouse",
        "attachments": [
            {
                "title": title_of(event),
                "text": event.get("description") or "",
                "fields": [{"title": k, "value": v, "short": True} for k, v in key_fields(event)],
                "footer": event.get("channel") or "",
                "ts": int((event.get("timestamp") or 0) / 1000),
            }
        ],
    }


def discord(event: dict[str, Any]) -> dict[str, Any]:
    """Discord's execute-webhook message with one embed."""
    return {
        "content": title_of(event),
        "username": "Trackhouse",
        "embeds": [
            {
                "title": title_of(event)[:256],
                "description": (event.get("description") or "")[:4096],
                "fields": [
                    {"name": k, "value": v[:1024], "inline": True} for k, v in key_fields(event)
                ],
                "timestamp": _iso(int(event.get("timestamp") or 0)),
                "footer": {"text": event.get("channel") or "trackhouse"},
            }
        ],
    }


def http_request(destination: Destination, pending: Pending) -> tuple[dict[str, str], bytes]:
    if destination.kind == "webhook":
        return webhook(destination, pending)
    shape = slack if destination.kind == "slack" else discord
    body = orjson.dumps(shape(event_of(pending)))
    return {"Content-Type": "application/json", "Idempotency-Key": pending.event_id}, body


def email(destination: Destination, pending: Pending, sender: str) -> EmailMessage:
    event = event_of(pending)
    message = EmailMessage()
    message["Subject"] = f"[Trackhouse] {title_of(event)}"
    message["From"] = sender
    message["To"] = destination.email_to
    message["Message-ID"] = f"<{pending.delivery_id.replace(':', '.')}@trackhouse>"
    lines = [title_of(event), "", event.get("description") or ""]
    lines += [f"{k}: {v}" for k, v in key_fields(event)]
    lines += ["", f"event id: {pending.event_id}"]
    message.set_content("\n".join(lines))
    return message
