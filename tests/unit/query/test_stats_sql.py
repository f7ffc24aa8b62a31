"""The SELECT a stats query becomes: values bound as parameters, the session join and the
per-visit grouping only when needed, the range on the primary key, order and pages."""

from __future__ import annotations

from datetime import date

from pipeline.query.stats import sql
from pipeline.query.stats.dates import days
from pipeline.query.stats.dimensions import Context, Params
from pipeline.registry.goals import Goal

RANGE = days(date(2024, 1, 1), date(2024, 1, 7), "Europe/Berlin")
GOALS = [Goal("g1", "Signup", "Signup", "", "", 0), Goal("g2", "Docs", "", "/docs/**", "", 0)]


def build(**fields) -> tuple[str, dict]:
    ctx = Context("db", "prj_1", "Europe/Berlin", GOALS, Params(), "2024-01-01")
    select = sql.Select(**{"dimensions": (), "columns": ("visitors",), "filters": (), **fields})
    return sql.build(select, ctx, RANGE), ctx.params.values


def test_visit_figures_read_the_sessions_that_started_in_the_range():
    text, params = build(columns=("visitors", "bounce_rate"), dimensions=("visit:source",))
    assert text.startswith("SELECT s.source_name AS d0, uniq(s.visitor_id) AS visitors, ")
    assert "FROM db.sessions AS s FINAL WHERE s.project_id = {v0:String}" in text
    assert params["v0"] == "prj_1" and params["v1"] == 1704063600000  # 00:00 in Berlin
    assert "s.start >= fromUnixTimestamp64Milli({v1:Int64}, 'UTC')" in text
    assert "s.device_type != 'bot'" in text and "events" not in text


def test_event_figures_read_the_events_of_the_range():
    text, _ = build(dimensions=("event:page",), columns=("visitors", "pageviews"))
    assert text.startswith("SELECT if(e.path = '', '(not set)', e.path) AS d0, uniq(e.visitor_id)")
    assert "FROM db.events AS e FINAL  WHERE e.project_id = {v0:String}" in text
    assert "AND e.timestamp >= fromUnixTimestamp64Milli({v1:Int64}, 'UTC')" in text
    assert "NOT e.is_bot" in text and "JOIN" not in text
    assert build(events_only=True)[0].startswith(
        "SELECT uniq(e.visitor_id) AS visitors FROM db.events"
    )


def test_user_values_are_parameters_never_sql():
    hostile = "/x') OR 1=1 --"
    text, params = build(filters=(["is", "event:page", [hostile]],
                                  ["contains", "event:props:a'b", ["c"]]))  # fmt: skip
    assert hostile not in text and "a'b" not in text
    assert [hostile] in params.values() and "a'b" in params.values()


def test_the_session_join_only_for_what_a_session_knows():
    page = ["is", "event:page", ["/"]]
    text, _ = build(dimensions=("visit:browser",), filters=(page,))
    assert "JOIN" not in text
    text, _ = build(dimensions=("visit:source",), filters=(page,))
    assert "ANY LEFT JOIN (SELECT session_id" in text and "referrer_sources_dict" in text
    text, _ = build(filters=(["is", "visit:entry_page", ["/"]], page))
    assert "ANY LEFT JOIN" in text


def test_session_metrics_with_event_filters_count_each_visit_once():
    text, _ = build(dimensions=("visit:device",), columns=("visitors", "bounce_rate"),
                    filters=(["contains", "event:page", ["/blog"]],))  # fmt: skip
    assert "GROUP BY d0, sid)" in text and "avg(bounce) * 100 AS bounce_rate" in text


def test_goals_order_and_pages():
    text, params = build(dimensions=("event:goal", "time:day"), order_by=(("visitors", "desc"),),
                         limit=10, offset=20, total_rows=True)  # fmt: skip
    assert "arrayJoin(arrayFilter(x -> x != ''" in text
    assert "^/docs/.*$" in params.values() and "Signup" in params.values()
    assert "toDate(toTimeZone(e.timestamp, 'Europe/Berlin'), 'Europe/Berlin')" in text
    assert text.endswith(
        "GROUP BY d0, d1 ORDER BY visitors DESC, d0 ASC, d1 ASC LIMIT 10 OFFSET 20"
    )
    assert "count() OVER () AS total_rows" in text


def test_behavioural_filters_search_the_visit():
    text, _ = build(filters=(["has_not_done", ["is", "event:name", ["Logout"]]],))
    assert "NOT (e.session_id IN (SELECT e.session_id FROM db.events AS e FINAL WHERE" in text


def test_uniq_only_figures_read_events_without_final_by_the_hour():
    """Copies of a re-delivered event cannot change a uniq, so FINAL goes; whole-hour ends
    compare the hour, which the page_event_visitors projection answers."""
    text, _ = build(dimensions=("event:page",))
    assert "FROM db.events AS e  WHERE" in text and "FINAL" not in text
    assert "AND toStartOfHour(e.timestamp) >= fromUnixTimestamp64Milli({v1:Int64}, 'UTC')" in text
    assert "FINAL" in build(dimensions=("event:page",), columns=("visitors", "events"))[0]
    ctx = Context("db", "prj_1", "Asia/Kolkata", GOALS, Params(), "2024-01-01")
    half_hour = days(date(2024, 1, 1), date(2024, 1, 7), "Asia/Kolkata")  # starts 18:30 UTC
    select = sql.Select(dimensions=("event:page",), columns=("visitors",), filters=())
    text = sql.build(select, ctx, half_hour)
    assert "AND e.timestamp >= " in text and "toStartOfHour(e.timestamp) >=" not in text


def test_visitors_per_page_over_whole_utc_days_read_the_daily_projection():
    """Whole UTC days, visitors per page or in total, unfiltered or filtered by page or event
    name only: the day is compared and uniqCombined(15) counts, as page_event_visitors_daily
    holds them; anything else keeps uniq."""
    utc_days = days(date(2024, 1, 1), date(2024, 1, 30), "UTC")
    page_views = ["is", "event:name", ["pageview"]]
    served = [
        ((), ()),  # a goal's divisor (events only)
        (("event:page",), ()),  # top pages
        (("event:page",), (page_views,)),  # page views only
        (("event:page",), (["is_not", "event:page", [""]],)),  # the dashboard's top pages
        (("event:page",), (["and", [page_views, ["contains_not", "event:page", ["/admin"]]]],)),
    ]
    for dims, filters in served:
        ctx = Context("db", "prj_1", "UTC", [], Params(), "2024-01-01")
        select = sql.Select(dimensions=dims, columns=("visitors",), filters=filters,
                            events_only=True)  # fmt: skip
        text = sql.build(select, ctx, utc_days)
        assert "uniqCombined(15)(e.visitor_id) AS visitors" in text, (dims, filters)
        assert "AND toStartOfDay(e.timestamp) < fromUnixTimestamp64Milli(" in text
        assert "FINAL" not in text
    others = [
        sql.Select(dimensions=("event:page",), columns=("visitors", "visits"), filters=()),
        sql.Select(dimensions=("visit:country",), columns=("visitors",), filters=(),
                   events_only=True),
        sql.Select(dimensions=("event:page",), columns=("visitors",),
                   filters=(["is", "visit:source", ["Google"]],)),
        sql.Select(dimensions=("event:page",), columns=("visitors",),
                   filters=(["has_done", ["is", "event:name", ["signup"]]],)),
    ]  # fmt: skip
    for select in others:
        fresh = Context("db", "prj_1", "UTC", [], Params(), "2024-01-01")
        text = sql.build(select, fresh, utc_days)
        assert "uniqCombined" not in text and "toStartOfDay(e.timestamp)" not in text
    assert "uniqCombined" not in build(dimensions=("event:page",))[0]  # Berlin: by the hour


def test_goal_rows_read_only_the_events_that_complete_a_goal():
    text, _ = build(dimensions=("event:goal",), columns=("visitors", "events"))
    assert "AND ((e.type != 'page' AND e.event = " in text
    ctx = Context("db", "prj_1", "UTC", [], Params(), "2024-01-01")
    select = sql.Select(dimensions=("event:goal",), columns=("visitors",), filters=())
    assert "NOT e.is_bot AND e.type != 'identify' AND 0 " in sql.build(select, ctx, RANGE)
