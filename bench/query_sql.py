"""The dashboard's queries as plain ClickHouse SQL on the pipeline's tables, for bench_queries'
reference timings through live SQL (``/clickhouse/``): what the engine does on the data set,
whatever the stats API layer adds. Sessions (``sessions FINAL``) answer visit-scoped questions,
events (``events FINAL``) event-scoped ones, as Plausible defines them."""

from __future__ import annotations

RANGE = "timestamp >= now() - INTERVAL 30 DAY"
SESSION_RANGE = "start >= now() - INTERVAL 30 DAY"
PREVIOUS = "start >= now() - INTERVAL 60 DAY AND start < now() - INTERVAL 30 DAY"
SESSION_BREAKDOWNS = {
    "visit:entry_page": "entry_path",
    "visit:exit_page": "exit_path",
    "visit:source": "referrer_domain",
    "visit:utm_source": "utm_source",
    "visit:country": "country",
    "visit:region": "region",
    "visit:city": "city",
    "visit:device": "device_type",
    "visit:browser": "browser",
    "visit:os": "os",
}


def reference_queries(db: str, project_id: str) -> list[tuple[str, str]]:
    """(name, SQL) pairs; every query is scoped to the project."""
    p = f"project_id = '{project_id}'"
    top = (
        "SELECT uniq(visitor_id) AS visitors, count() AS visits, sum(pageviews) AS pageviews, "
        "round(pageviews / visits, 2) AS views_per_visit, "
        "round(100 * countIf(is_bounce) / visits) AS bounce_rate, "
        "round(avg(duration_ms) / 1000) AS visit_duration "
        f"FROM {db}.sessions FINAL WHERE {p} AND "
    )
    queries = [
        (
            "top stats + previous period",
            f"SELECT * FROM ({top}{SESSION_RANGE}) AS current "
            f"CROSS JOIN ({top}{PREVIOUS}) AS previous",
        ),
        (
            "time series by day",
            "SELECT toDate(timestamp) AS day, uniq(visitor_id) AS visitors, "
            f"countIf(type = 'page') AS pageviews FROM {db}.events FINAL "
            f"WHERE {p} AND {RANGE} GROUP BY day ORDER BY day",
        ),
        (
            "time series by hour",
            "SELECT toStartOfHour(timestamp) AS hour, uniq(visitor_id) AS visitors, "
            f"countIf(type = 'page') AS pageviews FROM {db}.events FINAL "
            f"WHERE {p} AND timestamp >= now() - INTERVAL 7 DAY GROUP BY hour ORDER BY hour",
        ),
        (
            "breakdown event:page",
            f"SELECT path, uniq(visitor_id) AS visitors FROM {db}.events FINAL "
            f"WHERE {p} AND {RANGE} AND type = 'page' GROUP BY path "
            "ORDER BY visitors DESC LIMIT 9",
        ),
        *(
            (
                f"breakdown {dimension}",
                f"SELECT {column}, uniq(visitor_id) AS visitors FROM {db}.sessions FINAL "
                f"WHERE {p} AND {SESSION_RANGE} GROUP BY {column} "
                "ORDER BY visitors DESC LIMIT 9",
            )
            for dimension, column in SESSION_BREAKDOWNS.items()
        ),
        (
            "goals + conversion rate",
            "SELECT event, uniq(visitor_id) AS visitors, count() AS events, "
            "round(100 * visitors / (SELECT uniq(visitor_id) FROM "
            f"{db}.sessions FINAL WHERE {p} AND {SESSION_RANGE}), 2) AS conversion_rate "
            f"FROM {db}.events FINAL WHERE {p} AND {RANGE} AND type = 'track' "
            "GROUP BY event ORDER BY visitors DESC",
        ),
        (
            "realtime visitors",
            f"SELECT uniq(visitor_id) FROM {db}.events "
            f"WHERE {p} AND timestamp >= now() - INTERVAL 5 MINUTE",
        ),
        (
            "funnel, 4 steps (windowFunnel)",
            "SELECT level, count() AS visitors FROM (SELECT visitor_id, windowFunnel(3600)("
            "toDateTime(timestamp), type = 'page' AND path = '/', "
            "type = 'page' AND path LIKE '/pricing%', event = 'signup', event = 'purchase') "
            f"AS level FROM {db}.events FINAL WHERE {p} AND {RANGE} GROUP BY visitor_id) "
            "GROUP BY level ORDER BY level",
        ),
        (
            "retention, 12 weeks",
            "SELECT cohort, count() AS visitors, sumForEach(returned) AS by_week FROM ("
            "SELECT visitor_id, min(week) AS cohort, "
            "retention(week = cohort_week, "
            + ", ".join(f"week = cohort_week + {7 * n}" for n in range(1, 12))
            + ") AS returned FROM (SELECT visitor_id, toMonday(timestamp) AS week, "
            "min(toMonday(timestamp)) OVER (PARTITION BY visitor_id) AS cohort_week "
            f"FROM {db}.events WHERE {p} AND timestamp >= now() - INTERVAL 12 WEEK) "
            "GROUP BY visitor_id) GROUP BY cohort ORDER BY cohort",
        ),
    ]
    return queries
