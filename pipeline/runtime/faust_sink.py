"""Kafka mode's sink agent (on ``events.enriched`` + ``identities`` + ``events.dead``): a thin
driver of the core's ``RowBatch`` and ``RowSink``.

Per ``take_events`` batch of ``sink_take_records`` records within ``sink_flush_seconds``: decode
the records into a ``RowBatch`` (dropping the rows of users erased after a record was written: a
re-delivery), flush it through a ``RowSink`` (ClickHouse; retried until it is in, never
skipped), and only then return from the loop body, which is the commit: ``take_events`` acks
the records then. The pending notification deliveries of the batch's events (``notices``) are
inserted in the same flush, so they are recorded before the records are acked.
Re-deliveries collapse in the ReplacingMergeTree tables (events by ``event_id``, sessions by
``version``). It also reads single ``record.enriched-event.v1``
records (session in the ``trackhouse-session`` header), as written before batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import faust
import msgspec
import structlog
from faust.types import EventT

from pipeline.deadletter.letters import reason_of
from pipeline.kafka.envelope import ENRICHED_BATCH
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.core.batch import RowBatch
from pipeline.runtime.core.ports import BlockWriter, Notices
from pipeline.runtime.core.sink import RowSink
from pipeline.runtime.faust_records import (
    RECORD_HEADER,
    SESSION_HEADER,
    USER,
    VIOLATIONS,
    acked_only_when_done,
    stored_dead_letter,
)
from pipeline.settings import Settings
from schemas.batches import EnrichedBatch
from schemas.plans import PlanViolation
from schemas.records import DeadLetter, EnrichedEvent, IdentityLink, UserUpdate, decode_record
from schemas.sessions import Session

log = structlog.get_logger(__name__)


class SinkAgent:
    """The sink agent of a worker: ``run`` is the Faust agent."""

    def __init__(
        self,
        settings: Settings,
        clickhouse: BlockWriter,
        tombstones: Tombstones,
        before_batch: Callable[[], Awaitable[None]],
        notices: Notices | None = None,
    ) -> None:
        self.settings = settings
        self.notices = notices  # notifications: pending deliveries go in with the events
        self.clickhouse = clickhouse
        self.tombstones = tombstones
        self.before_batch = before_batch  # re-reads the tombstones now and then
        self.inserted = 0

    async def run(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(
            self.settings.sink_take_records, within=self.settings.sink_flush_seconds
        ):
            with acked_only_when_done(events):
                await self.before_batch()
                await self.insert(self.decode(events))

    def decode(self, events: Sequence[EventT]) -> RowBatch:
        s, batch = self.settings, RowBatch()
        for event in events:
            message, value = event.message, event.value
            marks = batch.marks() if self.tombstones.erased else None
            try:
                headers = dict(message.headers or ())
                if headers.get(RECORD_HEADER) == ENRICHED_BATCH:
                    many = decode_record(value, EnrichedBatch)
                    batch.events.extend(many.events)
                    batch.sessions.extend(many.sessions)
                elif message.topic == s.topic_enriched:
                    batch.events.append(decode_record(value, EnrichedEvent))
                    session = headers.get(SESSION_HEADER)
                    if session:
                        batch.sessions.append(decode_record(session, Session))
                elif message.topic == s.topic_dead:
                    batch.dead.append(stored_dead_letter(decode_record(value, DeadLetter)))
                elif headers.get(RECORD_HEADER) == VIOLATIONS:
                    batch.violations.extend(decode_record(value, list[PlanViolation]))
                elif headers.get(RECORD_HEADER) == USER:
                    batch.users.append(decode_record(value, UserUpdate))
                else:
                    batch.links.append(decode_record(value, IdentityLink))
            except (msgspec.DecodeError, TypeError) as exc:
                # Only the process agent writes these topics; log and skip a foreign record.
                batch.undecodable += 1
                log.error("sink.undecodable", topic=message.topic, error=reason_of(exc))
            if marks is not None:  # written before an erasure: a re-delivery
                batch.drop_erased(self.tombstones, marks, int(message.timestamp * 1000))
        return batch

    async def insert(self, batch: RowBatch) -> None:
        """Insert the batch; returns only once it is in ClickHouse (retried until then)."""
        # one a batch: a cancelled flush leaves nothing behind
        sink = RowSink(self.clickhouse, self.notices)
        sink.add(batch)
        if sink.pending:
            await sink.flush_async()
        self.inserted += len(batch.events)
