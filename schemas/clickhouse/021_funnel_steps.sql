-- Funnels' step events (docs/analytics-api.md, "Speed"): a copy of each event's step columns,
-- sorted so that a step (an event name, or a page path or path prefix) reads only its own
-- granules, where the events table (sorted by day) has every page view's path tested. At 10M
-- events a 4-step funnel reads about a third of it.
-- It is a table fed by a materialized view, not a projection of events: after a lightweight
-- DELETE chDB 26.9 still serves deleted rows from a normal projection. So the user erasure and
-- the retention purges delete from it explicitly (pipeline/privacy), and it keeps no id: the
-- visitor and user ids as cityHash64, as the funnel SQL resolves persons (pipeline/query/
-- resolved.py). A re-delivered event may have two rows here (the table does not replace
-- them): a funnel's answer is the same. `ClickHouse.migrate` fills it from events when it is
-- empty and events is not. Used by funnels without property filters or breakdown; the others read events.
CREATE TABLE IF NOT EXISTS {db}.funnel_steps
(
    project_id  LowCardinality(String),
    type        LowCardinality(String),
    event       String,
    path        String,
    timestamp   DateTime64(3, 'UTC'),
    is_bot      Bool,
    vh          UInt64 COMMENT 'cityHash64(visitor_id)',
    uh          UInt64 COMMENT 'cityHash64(user_id)'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, type, event, path, timestamp);
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.funnel_steps_mv TO {db}.funnel_steps AS
SELECT project_id, type, event, path, timestamp, is_bot, cityHash64(visitor_id) AS vh,
    cityHash64(user_id) AS uh
FROM {db}.events;
