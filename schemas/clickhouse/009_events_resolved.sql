-- events_resolved again, after columns were added to events (a view's columns are fixed when it
-- is created). Same definition as in 003_identities.sql (a user id equal to the visitor id is
-- provisional: the visitor's link wins over it).
CREATE OR REPLACE VIEW {db}.events_resolved AS
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
