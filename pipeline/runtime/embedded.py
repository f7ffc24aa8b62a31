"""The embedded runtime: no Kafka, one command. The edge appends enriched records to the spool
and makes them durable; the processor (in the storage process, see ``owner``) runs sessionize +
stitch over them and bulk-inserts into ClickHouse (chDB), then checkpoints state and spool
offset together. After a crash it resumes at the checkpoint; replayed rows are identical and
collapse in the ReplacingMergeTree tables."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from pipeline import metrics
from pipeline.publishing import PublishUnavailableError
from pipeline.runtime.backlog import Backlog
from pipeline.runtime.owner import StorageOwner
from pipeline.runtime.spool import Spool, SpoolFullError
from pipeline.runtime.spool_records import enrich_or_dead_letter
from pipeline.settings import Settings
from pipeline.stages.enrich import Enricher
from schemas.records import RawEvent


class EmbeddedRuntime:
    """The edge's side of the embedded runtime: enrich, append to the spool, make it durable,
    then tell the storage process (which owns chDB and runs the ``Processor``) how far to read."""

    def __init__(self, settings: Settings, enricher: Enricher) -> None:
        self.settings = settings
        self.enricher = enricher
        self.spool = Spool(settings.spool_dir, settings.spool_segment_bytes, settings.spool_fsync)
        self.owner = StorageOwner(settings)
        self.clickhouse = self.owner.clickhouse
        self.aggregates = self.owner.aggregates
        self._sync_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="spool-sync")
        self.backlog = Backlog()

    def start(self) -> None:
        self.owner.start(self.spool.end_offset)

    async def publish(self, raws: list[RawEvent]) -> None:
        """Enrich (resolving geo, dropping the IP) and persist durably; returns once the events
        survive a crash. Refused (503) while the storage process does not answer (stalled for
        ``storage_stall_seconds``) or is behind — more than ``max_backlog_seconds`` since the
        oldest event it has not stored was accepted, or more than ``max_backlog_bytes`` of
        spool — so POST → row latency stays bounded under overload."""
        refused = self._refusal()
        if refused:
            metrics.EVENTS_SHED.inc(len(raws))
            raise PublishUnavailableError(refused)
        accepted_at = self.backlog.now()
        records = [enrich_or_dead_letter(self.enricher, raw) for raw in raws]
        try:
            _start, end = self.spool.append(records)
            await asyncio.get_running_loop().run_in_executor(self._sync_pool, self.spool.sync, end)
        except SpoolFullError as exc:
            raise PublishUnavailableError(str(exc)) from exc
        self.backlog.appended(end, accepted_at)
        self.owner.advance(end)

    async def readiness(self) -> str:
        """'' when ready; else why not (the storage process, the backlog, or a spool that
        refuses appends — publish keeps trying the spool, so it notices recovery)."""
        return self._refusal() or self.spool.refusing()

    def _refusal(self) -> str:
        """Why the edge should shed load now ('' when it should not)."""
        unavailable = self.owner.unavailable()
        if unavailable:
            return unavailable
        inserted = self.owner.inserted_offset
        seconds = self.backlog.seconds_behind(inserted)
        if seconds > self.settings.max_backlog_seconds:
            return f"the pipeline is {seconds:.1f} s behind; retry later"
        backlog = self.spool.end_offset - inserted
        if backlog > self.settings.max_backlog_bytes:
            return f"the pipeline is {backlog} bytes behind; retry later"
        return ""

    def stop(self) -> None:
        self.owner.stop()
        self._sync_pool.shutdown()
        self.spool.close()
