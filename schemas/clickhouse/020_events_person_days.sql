-- Retention's days per person (docs/analytics-api.md, "Speed"): an aggregate projection of
-- events with one row per project, UTC day, visitor id, user id, bot flag and event name. A
-- retention matrix needs only which days each person was active (and on which events), so it
-- is answered from it: at 10M events it reads ~2.3M projection rows instead of the events. The
-- raw visitor and user ids are kept, not the person: stitching is resolved at query time
-- through identities, so a visitor linked later counts as the user retroactively.
-- It lives inside each data part of events, like page_visitors (018): a user erasure and the
-- retention purge rebuild it with the part (the 'rebuild' modes set in 018), a re-delivered
-- event's copy adds only to the count, which no query reads. Parts written before this file get
-- it when `ClickHouse.migrate` materializes it.
ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS person_days
(
    SELECT project_id, toDate(timestamp), cityHash64(visitor_id), cityHash64(user_id), is_bot,
        event, count()
    GROUP BY project_id, toDate(timestamp), cityHash64(visitor_id), cityHash64(user_id), is_bot,
        event
);
