"""What the edge hands accepted events to: the embedded spool, or (Kafka mode) a producer."""

from __future__ import annotations

from typing import Protocol

from schemas.records import EnrichedEvent


class PublishUnavailableError(RuntimeError):
    """Events cannot be made durable right now; the edge answers 503 with Retry-After."""


class Publisher(Protocol):
    async def publish(self, events: list[EnrichedEvent]) -> None:
        """Return only once ``events`` are durable; raise ``PublishUnavailableError`` if not."""
