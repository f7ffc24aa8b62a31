-- 018 and 019 first held visitors per page without the event name, so a top pages filtered to
-- page views (the dashboard's) was read from the events: 0.9-1.5 s at 10M events instead of
-- ~0.2 s. Their projections with the event name (`page_event_visitors`,
-- `page_event_visitors_daily`) replace them; a data dir from before drops the old ones here
-- (nothing to drop on a new one) and `ClickHouse.migrate` materializes the new ones for its
-- older parts, read meanwhile as they are.
ALTER TABLE {db}.events DROP PROJECTION IF EXISTS page_visitors;
ALTER TABLE {db}.events DROP PROJECTION IF EXISTS page_visitors_daily;
