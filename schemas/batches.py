"""``record.enriched-batch.v1``: what the Kafka worker publishes to ``events.enriched`` (see
``pipeline.kafka.envelope`` for how the values are packed)."""

from __future__ import annotations

import msgspec

from schemas.records import EnrichedEvent
from schemas.sessions import Session


class EnrichedBatch(msgspec.Struct):
    """``record.enriched-batch.v1``: enriched events and the newest state of their sessions."""

    events: list[EnrichedEvent]
    sessions: list[Session] = []
