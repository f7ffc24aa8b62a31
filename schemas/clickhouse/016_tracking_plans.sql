-- Tracking plans (`trackhouse plan push`, `PUT /v1/plan`): every version of each project's plan,
-- the document as JSON (schemas/plans.py: TrackingPlan). The highest version is the plan in
-- force; the pipeline checks `max(version)` per project every TRACKHOUSE_PLAN_RELOAD_SECONDS.
CREATE TABLE IF NOT EXISTS {db}.tracking_plans
(
    project_id String,
    version    UInt32,
    mode       LowCardinality(String),
    plan       String,
    pushed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, version);

-- One row per rule an event broke (the validate stage, both runtimes; `GET /v1/plan/violations`,
-- `trackhouse plan report`). `at` is when the event was received, so the violations of an
-- event processed twice (a replay from a checkpoint) collapse.
CREATE TABLE IF NOT EXISTS {db}.plan_violations
(
    project_id   LowCardinality(String),
    event_id     String,
    event        String,
    rule         LowCardinality(String),
    property     String,
    expected     String,
    got          String,
    at           DateTime64(3, 'UTC'),
    plan_version UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (project_id, event, rule, property, event_id);
