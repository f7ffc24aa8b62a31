"""Settings that do nothing in a mode: warned about at startup (one structured line), so a
value copied into the wrong service's environment is not mistaken for a working knob.

The modes are the long-running commands: ``embedded`` (``trackhouse serve``), ``kafka-edge``
(``trackhouse edge``) and ``kafka-worker`` (``trackhouse worker``). Only settings given
explicitly (environment or flag) are reported; defaults never are.
"""

from __future__ import annotations

from typing import Literal

import structlog

from pipeline.settings import Settings

log = structlog.get_logger(__name__)

Mode = Literal["embedded", "kafka-edge", "kafka-worker"]

# The spool, the storage owner process and the embedded sink's batching.
EMBEDDED_ONLY = frozenset(
    {
        "sink_batch_size",
        "state_checkpoint_seconds",
        "spool_fsync",
        "spool_segment_bytes",
        "max_backlog_seconds",
        "max_backlog_bytes",
        "storage_stall_seconds",
    }
)
# The Faust worker's agents, tables and consumer group.
WORKER_ONLY = frozenset(
    {
        "faust_app_id",
        "faust_store",
        "faust_session_timeout_seconds",
        "faust_rebalance_timeout_seconds",
        "worker_role",
        "worker_instance_id",
        "worker_take_records",
        "worker_state_cache_visitors",
        "sink_take_records",
        "sink_flush_seconds",
        "process_batch_size",
        "process_flush_seconds",
        "kafka_publish_retry_seconds",
        "erasure_reload_seconds",
        "retention_check_seconds",
        "session_timeout_seconds",
        "geo_database",
        "topic_enriched",
        "topic_identities",
        "topic_dead",
        "topic_notifications",
    }
)
# Topic creation (`trackhouse topics create`, and the worker before it starts).
TOPIC_CREATION = frozenset(
    {
        "topic_partitions",
        "topic_replication",
        "raw_retention_hours",
        "enriched_retention_hours",
        "changelog_compaction_hours",
    }
)
KAFKA_ONLY = (
    WORKER_ONLY
    | TOPIC_CREATION
    | {"kafka_bootstrap", "topic_raw", "kafka_publish_timeout_seconds"}
) - {"sink_flush_seconds", "retention_check_seconds", "session_timeout_seconds", "geo_database"}

# Notification delivery runs where the rows are stored (the embedded storage process, a Kafka
# worker with the sink agent); the live stream is the edge's.
NOTIFY_DELIVERY = frozenset(
    {
        "notify_retry_base_seconds",
        "notify_retry_max_seconds",
        "notify_give_up_seconds",
        "notify_timeout_seconds",
        "notify_concurrency",
        "notify_reload_seconds",
        "notify_threshold_check_seconds",
        "smtp_host",
        "smtp_port",
        "smtp_from",
        "smtp_username",
        "smtp_password",
        "smtp_starttls",
    }
)
STREAM = frozenset({"stream_max_clients", "stream_poll_seconds"})

IGNORED: dict[Mode, frozenset[str]] = {
    "embedded": frozenset(KAFKA_ONLY),
    "kafka-edge": EMBEDDED_ONLY
    | WORKER_ONLY
    | TOPIC_CREATION
    | NOTIFY_DELIVERY
    | {"bootstrap_project"},
    "kafka-worker": EMBEDDED_ONLY | {"storage_timeout_seconds"},
}


def ignored_settings(settings: Settings, mode: Mode) -> list[str]:
    """The ``TRACKHOUSE_*`` names of settings given explicitly that ``mode`` does not use."""
    given = settings.model_fields_set & IGNORED[mode]
    return sorted(f"TRACKHOUSE_{name.upper()}" for name in given)


def warn_ignored(settings: Settings, mode: Mode) -> list[str]:
    """Log one ``settings.ignored`` warning naming the settings without effect in ``mode``."""
    names = ignored_settings(settings, mode)
    if names:
        log.warning("settings.ignored", mode=mode, settings=names, effect="none in this mode")
    return names
