"""Prometheus metrics (served at ``/metrics``). Labels never carry personal data.

Edge metrics live in the default registry; the processor's in ``PROCESSOR_REGISTRY``, because
in the embedded runtime the processor runs in its own process and its figures are fetched from
there when ``/metrics`` is scraped.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

PROCESSOR_REGISTRY = CollectorRegistry()

EVENTS_ACCEPTED = Counter("trackhouse_events_accepted", "Events answered 202 (durable).")
EVENTS_REJECTED = Counter("trackhouse_events_rejected", "Events refused, by reason.", ["reason"])
EVENTS_SHED = Counter(
    "trackhouse_events_shed", "Events refused with 503 because the pipeline was behind."
)
EVENTS_STORED = Counter(
    "trackhouse_events_stored", "Events inserted into ClickHouse.", registry=PROCESSOR_REGISTRY
)
EVENTS_DUPLICATE = Counter(
    "trackhouse_events_duplicate",
    "Re-deliveries dropped by sessionize.",
    registry=PROCESSOR_REGISTRY,
)
EVENTS_ERASED = Counter(
    "trackhouse_events_erased",
    "Replayed events dropped because their user was erased after they arrived.",
    registry=PROCESSOR_REGISTRY,
)
RETENTION_PURGED = Counter(
    "trackhouse_retention_purged",
    "Rows older than their project's retention_days removed by the retention job, by table.",
    ["table"],
    registry=PROCESSOR_REGISTRY,
)
SINK_BATCH_ROWS = Histogram(
    "trackhouse_sink_batch_rows",
    "Events per ClickHouse insert batch.",
    buckets=(10, 100, 1000, 5000, 10_000, 20_000, 50_000),
    registry=PROCESSOR_REGISTRY,
)
SINK_BATCH_SECONDS = Histogram(
    "trackhouse_sink_batch_seconds", "Time to insert one batch.", registry=PROCESSOR_REGISTRY
)
SINK_FAILURES = Counter(
    "trackhouse_sink_failures",
    "Failed flushes (retried from checkpoint).",
    registry=PROCESSOR_REGISTRY,
)
PLAN_VIOLATIONS = Counter(
    "trackhouse_plan_violations",
    "Tracking-plan rules broken by events (rows of plan_violations).",
    registry=PROCESSOR_REGISTRY,
)
EVENTS_BLOCKED = Counter(
    "trackhouse_events_blocked",
    "Events a tracking plan's mode blocked (kept as dead letters of stage validate).",
    registry=PROCESSOR_REGISTRY,
)
DEAD_LETTERS = Counter(
    "trackhouse_dead_letters",
    "Records a stage could not process (kept in dead_letters), by stage.",
    ["stage"],
    registry=PROCESSOR_REGISTRY,
)
CONSUMER_LAG = Gauge(
    "trackhouse_consumer_lag",
    "Kafka mode: messages not yet consumed by this worker, by topic and partition.",
    ["topic", "partition"],
    registry=PROCESSOR_REGISTRY,
)
RECORDS_FETCHED_AGAIN = Counter(
    "trackhouse_records_fetched_again",
    "Kafka mode: partitions sought back because the record at the committed offset was lost "
    "in flight (see pipeline/runtime/faust_consumer.py).",
    ["topic", "partition"],
    registry=PROCESSOR_REGISTRY,
)
ANONYMOUS_PURGED = Counter(
    "trackhouse_anonymous_purged",
    "Rows of never-identified visitors removed by the retention job, by table.",
    ["table"],
    registry=PROCESSOR_REGISTRY,
)
SPOOL_LAG_BYTES = Gauge(
    "trackhouse_spool_lag_bytes", "Spool bytes not yet in ClickHouse.", registry=PROCESSOR_REGISTRY
)

NOTIFY_SENT = Counter(
    "trackhouse_notifications_sent",
    "Notification deliveries the destination accepted (2xx, or the SMTP server).",
    registry=PROCESSOR_REGISTRY,
)
NOTIFY_FAILED = Counter(
    "trackhouse_notifications_failed",
    "Failed delivery attempts (each retry counts), by kind: retried | dead.",
    ["kind"],
    registry=PROCESSOR_REGISTRY,
)
NOTIFY_PENDING = Gauge(
    "trackhouse_notifications_pending",
    "Deliveries waiting or in flight (in the delivery worker).",
    registry=PROCESSOR_REGISTRY,
)
NOTIFY_LAG = Histogram(
    "trackhouse_notifications_lag_seconds",
    "From the event's arrival at the edge to its delivery.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
    registry=PROCESSOR_REGISTRY,
)


def edge_text() -> bytes:
    return generate_latest(REGISTRY)


def processor_text() -> bytes:
    return generate_latest(PROCESSOR_REGISTRY)


def local_text() -> bytes:
    """Both registries, for a process that runs the edge and the processor itself."""
    return edge_text() + processor_text()
