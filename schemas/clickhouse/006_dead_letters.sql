-- Records a stage could not process (both runtimes), with the stage and the reason; listed and
-- re-driven by `trackhouse dead list|replay`. `record` is the original record with any IP
-- removed (the raw IP is stored nowhere). A replay writes the same dead_id with `replayed_at`
-- set and a higher `version`; a record that fails again comes back with a later `failed_at`.
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    dead_id     UUID,
    project_id  LowCardinality(String),
    failed_at   DateTime64(3, 'UTC'),
    stage       LowCardinality(String),
    reason      String,
    record      String,
    record_type LowCardinality(String),
    encoding    LowCardinality(String),
    topic       LowCardinality(String),
    partition   Int32,
    offset      Int64,
    replayed_at Nullable(DateTime64(3, 'UTC')),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY dead_id;
