-- The stats API (docs/stats-api.md). Goals: an event name or a page path pattern per project;
-- a deletion is a newer row with deleted = true (ReplacingMergeTree by updated_at; read FINAL).
CREATE TABLE IF NOT EXISTS {db}.goals
(
    project_id    String,
    goal_id       String,
    display_name  String,
    event_name    String,
    page_path     String,
    currency      LowCardinality(String),
    created_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    deleted       Bool DEFAULT false
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project_id, goal_id);

-- A project's time zone for date ranges and time buckets (none: UTC).
CREATE TABLE IF NOT EXISTS {db}.project_settings
(
    project_id String,
    timezone   String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY project_id;

-- Snowplow's referrer list (pipeline/query/stats/sources.py fills it): a referrer domain, or
-- "name:<lowercased source name or utm_source>", -> source name and GA4 source category.
CREATE TABLE IF NOT EXISTS {db}.referrer_sources
(
    key      String,
    source   String,
    category LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY key;

CREATE DICTIONARY IF NOT EXISTS {db}.referrer_sources_dict
(
    key      String,
    source   String,
    category String
)
PRIMARY KEY key
SOURCE(CLICKHOUSE(TABLE 'referrer_sources' DB '{db}'))
LIFETIME(MIN 0 MAX 3600)
LAYOUT(COMPLEX_KEY_HASHED());

-- The stats API reads the sessions that started in a date range: a minmax index on start lets
-- a FINAL read skip the granules of other days (sessions arrive roughly in time order). About
-- 0.1 µs per inserted session row; older parts are indexed as they merge.
ALTER TABLE {db}.sessions ADD INDEX IF NOT EXISTS idx_start start TYPE minmax GRANULARITY 1;
