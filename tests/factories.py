"""Factories for records used across tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from schemas.records import EnrichedEvent

MINUTE_MS = 60_000
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
_ids = itertools.count()


def enriched(**fields: Any) -> EnrichedEvent:
    defaults: dict[str, Any] = {
        "event_id": f"00000000-0000-0000-0000-{next(_ids):012d}",
        "project_id": "prj_test",
        "type": "track",
        "event": "clicked",
        "timestamp": BASE_MS,
        "received_at": BASE_MS,
        "visitor_id": "vis_1",
    }
    defaults.update(fields)
    return EnrichedEvent(**defaults)


def native_event(visitor_id: str, **fields: Any) -> dict[str, Any]:
    """An API event (the body of ``POST /v1/events``) with a unique ``message_id``."""
    body: dict[str, Any] = {
        "event": "clicked",
        "visitor_id": visitor_id,
        "timestamp": BASE_MS,
        "message_id": f"msg-{uuid.uuid4().hex}",
    }
    if fields.get("type") in ("page", "identify"):
        del body["event"]  # named after the type
    body.update(fields)
    return body


class MemoryStates:
    """The processing core's ``VisitorStates`` port over two dicts (unit tests of the core)."""

    def __init__(self) -> None:
        self.sessions_by_key: dict[bytes, object] = {}
        self.identities: dict[bytes, object] = {}
        self.puts = 0

    def sessions(self, key):
        return self.sessions_by_key.get(key)

    def identity(self, key):
        return self.identities.get(key)

    def put(self, key, outcome) -> None:
        self.puts += 1
        self.sessions_by_key[key] = outcome.sessions_state
        self.identities[key] = outcome.identity_state


def sample_plan(mode: str = "observe", **fields: Any):
    """A small tracking plan: "Signed Up" (plan: enum, required; seats: integer 1..500),
    "Viewed Pricing" (closed: only ``source``), "Exported Report" (deprecated); an ``email``
    trait with a pattern."""
    from schemas.plans import plan_from_object

    document: dict[str, Any] = {
        "mode": mode,
        "events": [
            {
                "name": "Signed Up",
                "owner": "growth",
                "properties": {
                    "plan": {"type": "string", "required": True, "enum": ["free", "pro"]},
                    "seats": {"type": "integer", "minimum": 1, "maximum": 500},
                    "referral_code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
                },
            },
            {
                "name": "Viewed Pricing",
                "additional_properties": False,
                "properties": {"source": {"type": "string"}},
            },
            {"name": "Exported Report", "status": "deprecated"},
        ],
        "traits": {"email": {"type": "string", "pattern": "@"}},
    }
    document.update(fields)
    return plan_from_object(document)


def many_event_plan(count: int = 200):
    """A plan of ``count`` events of five typed properties each ("Viewed Item 0", ...)."""
    from schemas.plans import plan_from_object

    properties = {
        "item_id": {"type": "string", "required": True, "pattern": "^it_[0-9]+$"},
        "price": {"type": "number", "minimum": 0},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "gift": {"type": "boolean"},
    }
    events = [{"name": f"Viewed Item {i}", "properties": properties} for i in range(count)]
    return plan_from_object({"events": events})
