"""AnalyticsKit's ``captureEvent`` for backend code, on top of ``Client.track``.

``data`` is ``{eventType, id, source, longDescription?, relevancy?}``:

- ``eventType`` (``info`` | ``error`` | ``success``) is prefixed onto the event name:
  ``{"eventType": "info", "id": "fetch_all_users"}`` is recorded as ``info_fetch_all_users``;
- ``source`` (``general``, ``auth``, ``db``, ``analytics``, ``iap``, ``notif``, ``aikit``, or
  your own) becomes the channel and a ``source`` property;
- ``longDescription`` becomes the event's ``description``;
- ``relevancy`` (``low`` | ``medium`` | ``high``) defaults to ``medium``, and to ``high`` for
  errors; high-relevancy events are flagged ``notify``.

``from_user_id`` attributes the event to a user; without it the visitor is ``backend:<source>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackhouse_sdk.errors import ValidationError

EVENT_TYPES = ("info", "error", "success")
RELEVANCIES = ("low", "medium", "high")
SOURCES = ("general", "auth", "db", "analytics", "iap", "notif", "aikit")


def event_name(event_type: str, event_id: str) -> str:
    return f"{event_type}_{event_id}"


def to_track_kwargs(data: Mapping[str, Any], from_user_id: str | None = None) -> dict[str, Any]:
    event_type = data.get("eventType")
    if event_type not in EVENT_TYPES:
        raise ValidationError(f"eventType must be one of {EVENT_TYPES}", "eventType")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise ValidationError("id is required (snake_case, e.g. fetch_all_users)", "id")
    source = data.get("source")
    if not isinstance(source, str) or not source:
        raise ValidationError(f"source is required (e.g. one of {SOURCES})", "source")
    relevancy = data.get("relevancy") or ("high" if event_type == "error" else "medium")
    if relevancy not in RELEVANCIES:
        raise ValidationError(f"relevancy must be one of {RELEVANCIES}", "relevancy")
    return {
        "event": event_name(event_type, event_id),
        "properties": {"eventType": event_type, "source": source, "relevancy": relevancy},
        "channel": source,
        "description": data.get("longDescription"),
        "notify": relevancy == "high",
        "user_id": from_user_id,
        "visitor_id": None if from_user_id else f"backend:{source}",
    }
