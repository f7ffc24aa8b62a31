"""Factories for records used across tests."""

from __future__ import annotations

import itertools
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
