"""Back off aiokafka's background metadata refresh while no broker answers.

aiokafka (0.14) has no ``reconnect_backoff_ms``: a failed connection asks for a metadata
refresh, the refresh fails at once on a refused connection, and its waiters (the producer's
sender with a batch for a partition without a leader, the consumer's fetcher) ask again right
away. With the broker stopped this span ~2,800 failed connects a second, each logged twice
(issue 16). Here a failed refresh of the client's own cluster view (the background
synchroniser; ``fetch_all_metadata`` uses a fresh view and is left alone) waits before it
answers, from ``FIRST_SECONDS`` doubling to ``MAX_SECONDS``; a refresh that succeeds resets it.
Everything waiting for that refresh waits with it, so every retry loop slows down together.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.client import AIOKafkaClient

from pipeline.kafka import internals

FIRST_SECONDS = 0.1
MAX_SECONDS = 2.0
_ATTRIBUTE = "_trackhouse_metadata_backoff"


async def _metadata_update_backing_off(
    self: AIOKafkaClient, cluster_metadata: Any, topics: Any
) -> bool:
    updated = await _original(self, cluster_metadata, topics)
    if cluster_metadata is not self.cluster:
        return updated
    if updated:
        setattr(self, _ATTRIBUTE, 0.0)
        return updated
    delay = getattr(self, _ATTRIBUTE, 0.0)
    delay = min(delay * 2, MAX_SECONDS) if delay else FIRST_SECONDS
    setattr(self, _ATTRIBUTE, delay)
    await asyncio.sleep(delay)
    return updated


_original = internals.client_metadata_update()


def install() -> None:
    """Patch ``AIOKafkaClient`` (idempotent; process-wide: producers, consumers, admin)."""
    if internals.client_metadata_update() is not _metadata_update_backing_off:
        internals.set_client_metadata_update(_metadata_update_backing_off)
