"""Prometheus metrics (served at ``/metrics``). Labels never carry personal data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_ACCEPTED = Counter("trackhouse_events_accepted", "Events answered 202 (durable).")
EVENTS_REJECTED = Counter("trackhouse_events_rejected", "Events refused, by reason.", ["reason"])
EVENTS_STORED = Counter("trackhouse_events_stored", "Events inserted into ClickHouse.")
EVENTS_DUPLICATE = Counter("trackhouse_events_duplicate", "Re-deliveries dropped by sessionize.")
SINK_BATCH_ROWS = Histogram(
    "trackhouse_sink_batch_rows",
    "Events per ClickHouse insert batch.",
    buckets=(10, 100, 1000, 5000, 10_000, 20_000, 50_000),
)
SINK_BATCH_SECONDS = Histogram("trackhouse_sink_batch_seconds", "Time to insert one batch.")
SINK_FAILURES = Counter("trackhouse_sink_failures", "Failed flushes (retried from checkpoint).")
SPOOL_LAG_BYTES = Gauge("trackhouse_spool_lag_bytes", "Spool bytes not yet in ClickHouse.")
