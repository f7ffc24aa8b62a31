-- The stats API's visitors per page (docs/stats-api.md, "Speed"): an aggregate projection of
-- events, per project, hour, page, event type, event name and bot flag, holding
-- uniq(visitor_id) states. A read of events without FINAL whose range starts and ends on whole
-- hours and asks only visitors (top pages, a goal's divisor), filtered by page or event name
-- or not (the dashboard's top pages count page views only), is answered from it: at 10M events
-- it reads ~1.5M projection rows instead of the events. It replaces `page_visitors`, which had
-- no event name (dropped in 022).
-- It lives inside each data part of events, so it goes wherever the part's rows go: a user
-- erasure (ALTER ... DELETE) and the retention purge (lightweight DELETE) rebuild it with the
-- part ('rebuild' modes below), a merge that drops a re-delivered event's copy rebuilds it too,
-- and uniq counts a visitor once however many copies an event has. Parts written before this
-- file are read without it until `ClickHouse.migrate` has materialized it (a background
-- mutation, started once when a part lacks it). Cost: ~0.3 µs per inserted row plus a few ms
-- per insert (measured in docs/stats-api.md, "Speed"). Needs ClickHouse >= 24.8 (the two
-- settings); chDB ships 26.9.
ALTER TABLE {db}.events MODIFY SETTING
    deduplicate_merge_projection_mode = 'rebuild',
    lightweight_mutation_projection_mode = 'rebuild';
ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS page_event_visitors
(
    SELECT project_id, toStartOfHour(timestamp), path, type, event, is_bot, uniq(visitor_id)
    GROUP BY project_id, toStartOfHour(timestamp), path, type, event, is_bot
);
