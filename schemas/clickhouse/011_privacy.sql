-- Erasure tombstones (`trackhouse users delete`): one row per erased subject, a SHA-256 of
-- "<project_id>\0<visitor key>" (the visitor id, or "user:<user_id>"), never the id itself.
-- Both runtimes drop events received before `erased_at` whose subject is here, so a replay (the
-- spool from its checkpoint, Kafka from committed offsets) cannot bring the user back.
CREATE TABLE IF NOT EXISTS {db}.erasures
(
    project_id String,
    subject    String,
    erased_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(erased_at)
ORDER BY (project_id, subject);

-- Per-project retention policy (0 = keep forever, the default): events and sessions of
-- never-identified visitors older than `anonymous_retention_days`, and all events and sessions
-- older than `retention_days`, are purged by the retention job. The newest row wins.
CREATE TABLE IF NOT EXISTS {db}.project_policies
(
    project_id               String,
    anonymous_retention_days UInt32,
    retention_days           UInt32,
    updated_at               DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY project_id;
