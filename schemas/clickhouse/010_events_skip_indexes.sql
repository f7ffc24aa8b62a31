-- Skip indexes for the filters the read API and dashboards use most: a recent time range (events
-- arrive roughly in time order, so each granule spans a narrow range), an event name, one
-- visitor's or one session's timeline. Without them every filtered read of events_resolved scans
-- the whole table under FINAL, so reads slow down as the table grows (and, in the embedded
-- runtime, take the CPU the inserts need). ClickHouse applies them under FINAL with exact results
-- when use_skip_indexes_if_final and use_skip_indexes_if_final_exact_mode are on (the defaults of
-- 26.9, the engine chDB ships; an older server without them reads as before, just slower).
-- Cost: about 1 µs per inserted row for the four. They cover parts written from now on; older parts are indexed as they merge,
-- or at once with ALTER TABLE events MATERIALIZE INDEX <name>.
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_timestamp timestamp TYPE minmax GRANULARITY 1;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_event event TYPE bloom_filter GRANULARITY 1;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_visitor_id visitor_id TYPE bloom_filter GRANULARITY 1;
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_session_id session_id TYPE bloom_filter GRANULARITY 1;
