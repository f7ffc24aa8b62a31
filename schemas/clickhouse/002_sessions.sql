-- One logical row per session, kept current as events arrive: each change inserts the session
-- with a higher version; ReplacingMergeTree keeps the newest (read with FINAL).
CREATE TABLE IF NOT EXISTS {db}.sessions
(
    session_id      String,
    project_id      LowCardinality(String),
    visitor_id      String,
    user_id         String,
    start           DateTime64(3, 'UTC'),
    end             DateTime64(3, 'UTC'),
    duration_ms     UInt64,
    events          UInt32,
    pageviews       UInt32,
    is_bounce       Bool,
    entry_path      String,
    exit_path       String,
    referrer        String,
    referrer_domain LowCardinality(String),
    utm_source      LowCardinality(String),
    utm_medium      LowCardinality(String),
    utm_campaign    LowCardinality(String),
    utm_term        String,
    utm_content     String,
    country         LowCardinality(String),
    region          LowCardinality(String),
    city            LowCardinality(String),
    browser         LowCardinality(String),
    os              LowCardinality(String),
    device_type     LowCardinality(String),
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, session_id);
