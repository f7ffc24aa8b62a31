-- Notifications (docs/notifications.md): destinations and rules per project (a change or a
-- deletion is a newer row), the outbox of deliveries (one row per event and destination; its
-- status moves pending -> sent | dead by newer rows), and every delivery attempt.
CREATE TABLE IF NOT EXISTS {db}.notification_destinations
(
    project_id     String,
    destination_id String,
    name           String,
    kind           LowCardinality(String),
    url            String,
    secret         String,
    email_to       String,
    all_notify     Bool DEFAULT true,
    deleted        Bool DEFAULT false,
    updated_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project_id, destination_id);

CREATE TABLE IF NOT EXISTS {db}.notification_rules
(
    project_id       String,
    rule_id          String,
    destination_id   String,
    kind             LowCardinality(String),
    event_pattern    String,
    channel          String,
    filter           String,
    threshold        UInt32,
    window_seconds   UInt32,
    cooldown_seconds UInt32,
    deleted          Bool DEFAULT false,
    updated_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project_id, rule_id);

CREATE TABLE IF NOT EXISTS {db}.notification_outbox
(
    delivery_id    String,
    project_id     String,
    destination_id String,
    rule_id        String,
    event_id       String,
    created_at     DateTime64(3, 'UTC'),
    payload        String,
    status         LowCardinality(String),
    attempts       UInt32,
    updated_at     DateTime64(3, 'UTC'),
    -- a row's newest version has its newest updated_at: skipping older granules never hides it
    INDEX idx_updated_at updated_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project_id, destination_id, delivery_id)
TTL toDateTime(updated_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS {db}.notification_deliveries
(
    delivery_id    String,
    project_id     String,
    destination_id String,
    event_id       String,
    attempt        UInt32,
    at             DateTime64(3, 'UTC'),
    status         LowCardinality(String),
    latency_ms     Float32,
    response_code  UInt16,
    error          String
)
ENGINE = MergeTree
ORDER BY (project_id, at, delivery_id)
TTL toDateTime(at) + INTERVAL 30 DAY;

-- The live stream (GET /v1/stream) reads the newest events by arrival time.
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_received_at received_at TYPE minmax GRANULARITY 1
