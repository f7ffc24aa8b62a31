"""Dimensions as ClickHouse expressions over one event row ``e`` (``events``) and, for what
only a session knows (entry/exit page, first referrer and UTM tags), its session ``s``
(``sessions``, joined on ``session_id``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.query.stats import sources
from pipeline.query.stats.request import PROPS
from pipeline.registry.goals import Goal, wildcard_regex

DICT = "referrer_sources_dict"
NOT_SET = "(not set)"
NONE = "(none)"
SESSION_COLUMNS = (
    "entry_path", "exit_path", "referrer", "referrer_domain", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "is_bounce", "duration_ms", "pageviews",
)  # fmt: skip


@dataclass
class Params:
    """Query parameters, bound server-side (``{name:Type}``), never pasted into SQL."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any, kind: str = "String") -> str:
        name = f"v{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


@dataclass
class Context:
    database: str
    project_id: str
    timezone: str
    goals: list[Goal]
    params: Params
    first_day: str = ""  # the range's first day (weeks start no earlier)
    sessions_only: bool = False  # rows are sessions (``s``), not events

    def tz(self) -> str:
        return "'" + self.timezone + "'"  # checked against zoneinfo: [A-Za-z0-9/_+-] only


def session_dimension(name: str) -> bool:
    """Whether the dimension needs the session row."""
    return name in SESSION_DIMENSIONS


def derived_columns(database: str) -> str:
    """A session's source and its category, computed once per session row (``s``): the
    dimensions read them as ``s.source_name`` and ``s.source_category``."""
    d = f"'{database}.{DICT}'"

    def get(key: str, default: str, attribute: str = "source") -> str:
        return f"dictGetOrDefault({d}, '{attribute}', tuple({key}), {default})"

    registrable = get("cutToFirstSignificantSubdomain(s.referrer_domain)", "s.referrer_domain")
    by_domain = get("s.referrer_domain", registrable)
    by_name = get("concat('name:', lower(s.utm_source))", "s.utm_source")
    source = (
        f"if(s.utm_source != '', {by_name}, "
        f"if(s.referrer_domain = '', '{sources.DIRECT}', {by_domain}))"
    )
    category = get("concat('name:', lower(source_name))", "''", "category")
    return f"{source} AS source_name, {category} AS source_category"


CHANNEL = sources.channel_sql(
    "s.source_category", "s.source_name", "s.referrer_domain", "s.utm_medium", "s.utm_campaign"
)


def _not_set(expr: str, label: str = NOT_SET) -> str:
    return f"if({expr} = '', '{label}', {expr})"


def goal_condition(goal: Goal, params: Params) -> str:
    if goal.event_name:
        return f"(e.type != 'page' AND e.event = {params.add(goal.event_name)})"
    return f"(e.type = 'page' AND match(e.path, {params.add(wildcard_regex(goal.page_path))}))"


def any_goal(goals: list[Goal], params: Params) -> str:
    """Whether an event completes one of ``goals`` (none: false, so nothing is read)."""
    return "(" + " OR ".join(goal_condition(g, params) for g in goals) + ")" if goals else "0"


def goal_names(goals: list[Goal], params: Params) -> str:
    """The names of the goals an event completes, as an array (``event:goal`` joins it)."""
    if not goals:
        return "CAST([], 'Array(String)')"
    items = ", ".join(
        f"if({goal_condition(g, params)}, {params.add(g.display_name)}, '')" for g in goals
    )
    return f"arrayFilter(x -> x != '', [{items}])"


# What the sessions table answers alone (its first event's device and place).
SESSIONS_TABLE_DIMENSIONS = frozenset({
    "visit:browser", "visit:os", "visit:country", "visit:region", "visit:region_name",
    "visit:city", "visit:city_name", "visit:device", "time", "time:hour", "time:day",
    "time:week", "time:month",
})  # fmt: skip
SESSION_DIMENSIONS = frozenset({
    "visit:entry_page", "visit:exit_page", "visit:source", "visit:referrer", "visit:channel",
    "visit:utm_medium", "visit:utm_source", "visit:utm_campaign", "visit:utm_content",
    "visit:utm_term",
})  # fmt: skip
PLAIN = {
    "event:page": "e.path",
    "event:name": "e.event",
    "event:hostname": "domainWithoutWWW(e.url)",
    "visit:entry_page": "s.entry_path",
    "visit:exit_page": "s.exit_path",
    "visit:utm_medium": "s.utm_medium",
    "visit:utm_source": "s.utm_source",
    "visit:utm_campaign": "s.utm_campaign",
    "visit:utm_content": "s.utm_content",
    "visit:utm_term": "s.utm_term",
    "visit:browser": "e.browser",
    "visit:browser_version": "e.browser_version",
    "visit:os": "e.os",
    "visit:os_version": "e.os_version",
    "visit:country": "e.country",
    "visit:region": "e.region",
    "visit:region_name": "e.region",
    "visit:city": "e.city",
    "visit:city_name": "e.city",
    "visit:referrer": "replaceRegexpOne(s.referrer, '^[a-zA-Z]+://(www\\\\.)?', '')",
    "visit:device": "concat(upper(substring(e.device_type, 1, 1)), substring(e.device_type, 2))",
}


def raw(name: str, ctx: Context) -> str:
    """The value filters compare: as stored (``visit:source``: the source name)."""
    if name in PLAIN:
        expr = PLAIN[name]
        return expr.replace("e.", "s.") if ctx.sessions_only else expr
    if name == "visit:source":
        return "s.source_name"
    if name == "visit:channel":
        return CHANNEL
    if name.startswith(PROPS):
        key = ctx.params.add(name[len(PROPS) :])
        return (
            f"if(JSONType(e.properties, {key}) = 'String', JSONExtractString(e.properties, {key}),"
            f" if(JSONHas(e.properties, {key}), JSONExtractRaw(e.properties, {key}), ''))"
        )
    raise KeyError(name)


def shown(name: str, ctx: Context) -> str:
    """The value a result row shows (Plausible's placeholders for empty values)."""
    if name == "visit:source":
        return "s.source_name"
    if name == "visit:referrer":
        return _not_set(raw(name, ctx), sources.DIRECT)
    if name.startswith(PROPS):
        return _not_set(raw(name, ctx), NONE)
    return _not_set(raw(name, ctx))


def time_bucket(bucket: str, ctx: Context) -> str:
    local = f"toTimeZone({'s.start' if ctx.sessions_only else 'e.timestamp'}, {ctx.tz()})"
    if bucket == "time:hour":
        return f"formatDateTime(toStartOfHour({local}), '%Y-%m-%d %H:00:00', {ctx.tz()})"
    if bucket == "time:day":
        return f"toString(toDate({local}, {ctx.tz()}))"
    if bucket == "time:week":
        first = ctx.params.add(ctx.first_day, "Date")
        return f"toString(greatest(toMonday(toDate({local}, {ctx.tz()})), {first}))"
    return f"toString(toStartOfMonth(toDate({local}, {ctx.tz()})))"
