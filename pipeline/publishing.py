"""What the edge hands accepted events to: the embedded spool, or (Kafka mode) a producer.

The interface sits below the edge and both runtimes, which implement it (no import cycle)."""

from __future__ import annotations

from typing import Protocol

from schemas.records import RawEvent


class PublishUnavailableError(RuntimeError):
    """Events cannot be made durable right now; the edge answers 503 with Retry-After."""


class Publisher(Protocol):
    async def publish(self, events: list[RawEvent]) -> None:
        """Return only once ``events`` are durable; raise ``PublishUnavailableError`` if not.

        The embedded runtime enriches first (so the IP never reaches its disk); the Kafka
        publisher sends the raw records to ``events.raw``."""

    async def readiness(self) -> str:
        """Why events handed over now would be refused ('' when they would be accepted; for
        ``/readyz``)."""
