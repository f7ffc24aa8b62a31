"""The process agent's publishing: record batches handed to the producer while the next events
are computed, then waited for; what failed is sent again (``retries.publish_async``) until the
broker acknowledged every record. Duplicates are identical and collapse downstream."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import structlog

from pipeline import retries
from pipeline.deadletter.letters import reason_of
from pipeline.kafka import internals
from pipeline.kafka.batches import InFlight, OutRecord, acked_offsets, send_batched, start_batches

log = structlog.get_logger(__name__)
# Records handed to the producer, and their batches in flight (None: handing them over failed)
Publishing = tuple[list[OutRecord], list[InFlight] | None]


class BatchPublisher:
    """Sends record batches through the Faust app's producer."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def start(self, sends: list[OutRecord]) -> Publishing:
        """Hand ``sends`` to the producer; the worker goes on computing the next events
        while they travel (``published`` waits for them)."""
        try:
            return sends, await start_batches(internals.ensure_producer(self.app.producer), sends)
        except Exception as exc:  # sent again by ``published``
            log.error("worker.publish_failed", error=reason_of(exc), records=len(sends))
            return sends, None

    async def published(self, publishing: list[Publishing]) -> int:
        """Wait until the broker acknowledged every record handed over (resending what
        failed, until it is acknowledged); returns how many records."""
        for sends, in_flight in publishing:
            try:
                if in_flight is not None:
                    await acked_offsets(in_flight)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # resend all: duplicates are identical and collapse
                log.error("worker.publish_failed", error=reason_of(exc), records=len(sends))
            await self.send_acked(sends)
        return sum(len(sends) for sends, _ in publishing)

    async def send_acked(self, sends: list[OutRecord]) -> dict[Any, int]:
        """Send ``sends`` as one batch per partition; once the broker acknowledged all of
        them, the last offset written to each partition (retried until then)."""

        def failed(exc: BaseException) -> None:
            log.error("worker.publish_failed", error=reason_of(exc), records=len(sends))

        async for attempt in retries.publish_async(failed):
            with attempt:
                return await send_batched(internals.ensure_producer(self.app.producer), sends)
        raise AssertionError("unreachable: the publish policy retries until it succeeds")
