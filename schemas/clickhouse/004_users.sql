-- Users (persons). Every update is a plain insert; the aggregate columns merge idempotently, so
-- re-delivered updates change nothing: first_touch is the earliest visitor's arrival (min of a
-- tuple led by its time; 2299-12-31 means none yet), traits the latest identify's (max of a
-- tuple led by its time; 1970 means none). Read through users_current.
CREATE TABLE IF NOT EXISTS {db}.users
(
    project_id  LowCardinality(String),
    user_id     String,
    first_seen  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    first_touch SimpleAggregateFunction(min, Tuple(
        at DateTime64(3, 'UTC'), landing_path String, referrer String, referrer_domain String,
        utm_source String, utm_medium String, utm_campaign String, utm_term String,
        utm_content String)),
    traits      SimpleAggregateFunction(max, Tuple(at DateTime64(3, 'UTC'), traits String))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, user_id);

CREATE VIEW IF NOT EXISTS {db}.users_current AS
SELECT
    project_id,
    user_id,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen,
    min(first_touch) AS touch,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.landing_path, '') AS first_landing_path,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.referrer, '') AS first_referrer,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.referrer_domain, '') AS first_referrer_domain,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.utm_source, '') AS first_utm_source,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.utm_medium, '') AS first_utm_medium,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.utm_campaign, '') AS first_utm_campaign,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.utm_term, '') AS first_utm_term,
    if(touch.at < toDateTime64('2299-01-01', 3, 'UTC'), touch.utm_content, '') AS first_utm_content,
    max(traits).traits AS traits
FROM {db}.users
GROUP BY project_id, user_id;
