-- Visitor -> user links. The first link of a visitor wins (argMin by linked_at); queries join
-- this table, so a visitor's earlier anonymous events resolve to the user without rewriting rows.
CREATE TABLE IF NOT EXISTS {db}.identities
(
    project_id LowCardinality(String),
    visitor_id String,
    user_id    String,
    linked_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, visitor_id);

-- Events with the user resolved: the user id sent with the event, else the visitor's user. A user
-- id equal to the visitor id is provisional (PostHog's server-side distinct_id): the visitor's
-- link, when it has one, wins over it, so a later merge reads back onto earlier rows.
CREATE VIEW IF NOT EXISTS {db}.events_resolved AS
SELECT e.* REPLACE (
    if(e.user_id != '' AND (e.user_id != e.visitor_id OR i.user_id = ''), e.user_id, i.user_id)
    AS user_id
)
FROM {db}.events AS e FINAL
LEFT JOIN
(
    SELECT project_id, visitor_id, argMin(user_id, linked_at) AS user_id
    FROM {db}.identities
    GROUP BY project_id, visitor_id
) AS i ON e.project_id = i.project_id AND e.visitor_id = i.visitor_id;
