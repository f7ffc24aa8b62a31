"""The topic registry (names, partitions, retention from settings) and idempotent creation."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from pipeline.settings import Settings

log = structlog.get_logger(__name__)
HOUR_MS = 3_600_000
STATE_TABLE = "visitor-state"
# Compacted topics roll segments at 128 MiB: the log cleaner re-copies a partition's log each
# time its closed segments are half superseded, and the state changelog supersedes itself
# quickly (a record per visitor per batch). With the dev broker's 16 MiB segments the cleaner
# was the busiest broker thread at 6,000 events/s. A moved partition's recovery reads at most
# one segment of superseded states more.
COMPACTED_SEGMENT_BYTES = 128 << 20


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    retention_ms: int
    key: str
    schema: str
    compacted: bool = False

    def new_topic(self) -> NewTopic:
        """A compacted topic's ``retention_ms`` (when > 0) bounds how long a superseded or
        deleted record stays: ``max.compaction.lag.ms`` and ``delete.retention.ms``."""
        configs = (
            {"cleanup.policy": "compact", "segment.bytes": str(COMPACTED_SEGMENT_BYTES)}
            if self.compacted
            else {"retention.ms": str(self.retention_ms)}
        )
        if self.compacted and self.retention_ms > 0:
            configs["max.compaction.lag.ms"] = str(self.retention_ms)
            configs["delete.retention.ms"] = str(self.retention_ms)
        return NewTopic(
            name=self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication,
            topic_configs=configs,
        )


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic of the pipeline. Keys keep one visitor's records on one partition."""
    parts, repl = settings.topic_partitions, settings.topic_replication
    raw_ms = settings.raw_retention_hours * HOUR_MS
    enriched_ms = settings.enriched_retention_hours * HOUR_MS
    visitor_key = "project_id \\0 visitor_id (or user:<user_id>)"
    return [
        TopicSpec(settings.topic_raw, parts, repl, raw_ms,
                  f"{visitor_key}; none on an array, whose events all have this partition",
                  "record.raw-event.v1.schema.json | record.raw-batch.v1.schema.json "
                  "(an array of raw events, as the edge sends a request's events)"),
        TopicSpec(settings.topic_enriched, parts, repl, enriched_ms, "none",
                  "record.enriched-batch.v1.schema.json (header trackhouse-record: "
                  "enriched-batch), or record.enriched-event.v1.schema.json "
                  "(header trackhouse-session: record.session.v1.schema.json)"),
        TopicSpec(settings.topic_identities, parts, repl, enriched_ms, visitor_key,
                  "record.identity-link.v1.schema.json | record.user-update.v1.schema.json "
                  "(header trackhouse-record: identity-link | user-update)"),
        TopicSpec(settings.topic_dead, parts, repl, enriched_ms, "as the original record",
                  "record.dead-letter.v1.schema.json"),
        TopicSpec(settings.topic_notifications, parts, repl, enriched_ms, visitor_key,
                  "record.enriched-event.v1.schema.json"),
        # The Faust worker's own topics, made here with the pipeline's (so they exist, with
        # their settings, before any worker starts): the state table's changelog and the
        # partition assignor's leader topic. (Turning Faust's own declaring off instead lost
        # events after a kill -9 in our tests; Faust re-declares existing topics harmlessly.)
        TopicSpec(f"{settings.faust_app_id}-{STATE_TABLE}-changelog", parts, repl,
                  settings.changelog_compaction_hours * HOUR_MS,
                  visitor_key, "msgspec JSON of the visitor's sessions + identity state",
                  compacted=True),
        TopicSpec(f"{settings.faust_app_id}-__assignor-__leader", 1, repl, -1, "-",
                  "Faust's partition assignor", compacted=True),
        TopicSpec(f"{settings.faust_app_id}-sink-__assignor-__leader", 1, repl, -1, "-",
                  "Faust's partition assignor of --role sink workers", compacted=True),
    ]  # fmt: skip


async def create_topics(settings: Settings) -> dict[str, str]:
    """Create missing topics; returns ``{name: "created" | "exists"}``. Safe to repeat."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [spec for spec in topic_specs(settings) if spec.name not in existing]
        result = {spec.name: "exists" for spec in topic_specs(settings) if spec.name in existing}
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics([spec.new_topic() for spec in wanted])
            result.update({spec.name: "created" for spec in wanted})
        log.info("kafka.topics", **result)
        return result
    finally:
        await admin.close()
