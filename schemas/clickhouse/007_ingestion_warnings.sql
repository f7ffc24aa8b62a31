-- Ingestion warnings: what a dialect adapter refused or changed without failing the request
-- (a PostHog merge on an illegal distinct id, a Segment message the HTTP API answers 200 for but
-- cannot store). Never holds an IP: ``details`` is JSON of the ids and fields involved only.
CREATE TABLE IF NOT EXISTS {db}.ingestion_warnings
(
    project_id LowCardinality(String),
    source     LowCardinality(String),
    type       LowCardinality(String),
    details    String,
    timestamp  DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (project_id, timestamp);
