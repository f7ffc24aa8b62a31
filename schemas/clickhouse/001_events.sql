-- Every accepted event, enriched. One row per event_id: re-deliveries collapse (ReplacingMergeTree;
-- read with FINAL or through events_resolved). The client IP is never a column.
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id        UUID,
    project_id      LowCardinality(String),
    type            LowCardinality(String),
    event           String,
    channel         LowCardinality(String),
    visitor_id      String,
    user_id         String,
    session_id      String,
    timestamp       DateTime64(3, 'UTC'),
    received_at     DateTime64(3, 'UTC'),
    message_id      String,
    properties      String COMMENT 'JSON object of string/number/boolean/null values',
    traits          String COMMENT 'JSON object (identify)',
    icon            String,
    notify          Bool,
    description     String,
    title           String,
    locale          LowCardinality(String),
    screen          LowCardinality(String),
    user_agent      String,
    url             String,
    path            String,
    referrer        String,
    referrer_domain LowCardinality(String),
    utm_source      LowCardinality(String),
    utm_medium      LowCardinality(String),
    utm_campaign    LowCardinality(String),
    utm_term        String,
    utm_content     String,
    browser         LowCardinality(String),
    browser_version LowCardinality(String),
    os              LowCardinality(String),
    os_version      LowCardinality(String),
    device_type     LowCardinality(String),
    device_brand    LowCardinality(String),
    device_model    LowCardinality(String),
    is_bot          Bool,
    country         LowCardinality(String),
    region          LowCardinality(String),
    city            LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toDate(timestamp), event_id);
