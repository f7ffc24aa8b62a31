"""The events a query aggregates, with each row's person resolved as ``events_resolved`` does.

``events_resolved`` joins every project's identities on each read; an analytics query filters the
project and time range first (the table's sort key leads with ``project_id, toDate(timestamp)``)
and joins only the project's identities. The rule is the view's (schemas/clickhouse/009): a row's
user is its own ``user_id``, unless that is empty or provisional (equal to its visitor id) and the
visitor was linked to a user — then the user the visitor was first linked to. Its *person* is that
user, else its visitor: a visitor who signs up later is one person with the user, retroactively.
"""

from __future__ import annotations

from collections.abc import Sequence

RESOLVED_USER = (
    "if(e.user_id != '' AND (e.user_id != e.visitor_id OR i.user_id = ''), e.user_id, i.user_id)"
)
PERSON = f"if({RESOLVED_USER} != '', {RESOLVED_USER}, e.visitor_id)"
# Who a count counts: a person (resolved user, else visitor), or a visitor (a browser; a
# server-side event without one counts as its user's, ``user:<id>``, as ``schemas/keys.py``).
# Queries group by a 64-bit hash of it (~12 % less CPU than by the string on 10M events; a
# collision among a million people has a chance of ~3e-8).
COUNTING = {"users": "person", "visitors": "visitor"}
VISITOR = "if(e.visitor_id != '', e.visitor_id, concat('user:', e.user_id))"
START = "fromUnixTimestamp64Milli({start:Int64}, 'UTC')"
END = "fromUnixTimestamp64Milli({end:Int64}, 'UTC')"


def source(
    database: str,
    columns: Sequence[str],
    where: Sequence[str] = (),
    *,
    since: bool = True,
    once: bool = False,
    people: bool = True,
) -> str:
    """A subquery of ``columns`` (of ``events AS e``) plus ``person`` and the resolved
    user (``resolved_user``), for the project ``{project:String}`` and ``timestamp < {end}`` (and
    ``>= {start}`` when ``since``), minus bots unless ``{include_bots:UInt8}``; ``where`` adds
    conditions on ``e``. ``once`` keeps one row per ``event_id`` (a re-delivered event not yet
    merged away): sums need it, counts of distinct people and funnels do not. ``LIMIT 1 BY``
    costs about half of what ``FINAL`` does here. Without ``people`` (a count of visitors) there
    is no identities join and no ``person``/``resolved_user``."""
    clauses = ["e.project_id = {project:String}", f"e.timestamp < {END}"]
    if since:
        clauses.append(f"e.timestamp >= {START}")
    clauses += ["({include_bots:UInt8} OR NOT e.is_bot)", *where]
    picked = ", ".join(f"e.{c} AS {c}" for c in columns)
    tail = f"WHERE {' AND '.join(clauses)}{' LIMIT 1 BY e.event_id' if once else ''})"
    if not people:
        return f"(SELECT {picked}, {VISITOR} AS visitor FROM {database}.events AS e {tail}"
    return (
        f"(SELECT {picked}, {RESOLVED_USER} AS resolved_user, {PERSON} AS person, "
        f"{VISITOR} AS visitor "
        f"FROM {database}.events AS e "
        "LEFT JOIN (SELECT visitor_id, argMin(user_id, linked_at) AS user_id "
        f"FROM {database}.identities WHERE project_id = {{project:String}} "
        f"GROUP BY visitor_id) AS i ON e.visitor_id = i.visitor_id {tail}"
    )


# The same rule over 64-bit hashes of the ids, as the ``person_days`` projection of events keeps
# them (schemas/clickhouse/020): ``e.vh``/``e.uh`` hash the row's visitor and user ids, ``i.uh``
# the visitor's linked user (``i.linked`` is 0 when it has none). ``PERSON_HASH`` equals
# ``cityHash64(person)``; ``VISITOR_HASH`` tells visitors apart as ``cityHash64(visitor)`` does.
EMPTY_HASH = "cityHash64('')"
LINKED_HASH = f"if(i.linked = 1, i.uh, {EMPTY_HASH})"
RESOLVED_HASH = (
    f"if(e.uh != {EMPTY_HASH} AND (e.uh != e.vh OR {LINKED_HASH} = {EMPTY_HASH}), "
    f"e.uh, {LINKED_HASH})"
)
PERSON_HASH = f"if({RESOLVED_HASH} != {EMPTY_HASH}, {RESOLVED_HASH}, e.vh)"
VISITOR_HASH = f"if(e.vh != {EMPTY_HASH}, e.vh, cityHash64(e.uh))"


def person_days(
    database: str, where: Sequence[str] = (), *, events: bool = False, people: bool = True
) -> str:
    """A subquery with one row per visitor, user and UTC ``day`` (and ``event`` when
    ``events``) on which the project ``{project:String}`` has events before the day of
    ``{end}``, which must be midnight UTC, minus bots unless ``{include_bots:UInt8}``; ``where``
    adds conditions on ``event``. ``who`` is the person (``people``) or the visitor, hashed as
    ``cityHash64`` of ``source``'s ``person``/``visitor``. The ``person_days`` projection
    answers the inner aggregation: ~4x fewer rows than the events, with fixed-size keys."""
    keys = "vh, uh, day" + (", event" if events else "")
    clauses = [
        "project_id = {project:String}",
        f"toDate(timestamp) < toDate({END})",
        "({include_bots:UInt8} OR NOT is_bot)",
        *where,
    ]
    rows = (
        "(SELECT cityHash64(visitor_id) AS vh, cityHash64(user_id) AS uh, "
        f"toDate(timestamp) AS day{', event' if events else ''} FROM {database}.events "
        f"WHERE {' AND '.join(clauses)} GROUP BY {keys}) AS e"
    )
    picked = "e.day AS day" + (", e.event AS event" if events else "")
    return _with_who(database, picked, rows, people)


def hashed_source(
    database: str,
    columns: Sequence[str],
    where: Sequence[str] = (),
    *,
    people: bool = True,
    steps: bool = False,
) -> str:
    """A subquery of ``columns`` of the project's events in ``[{start}, {end})`` (minus bots
    unless ``{include_bots:UInt8}``; ``where`` adds conditions on the events) and ``who``, the
    person (``people``) or the visitor hashed as ``person_days`` does: the identities join is
    on 64-bit hashes, cheaper than on the id strings. With ``steps`` the rows come from
    ``funnel_steps`` (schemas/clickhouse/021), which has the hashes and a few columns only."""
    clauses = [
        "project_id = {project:String}",
        f"timestamp >= {START}",
        f"timestamp < {END}",
        "({include_bots:UInt8} OR NOT is_bot)",
        *where,
    ]
    hashes = "vh, uh" if steps else "cityHash64(visitor_id) AS vh, cityHash64(user_id) AS uh"
    table = "funnel_steps" if steps else "events"
    rows = (
        f"(SELECT {', '.join(columns)}, {hashes} "
        f"FROM {database}.{table} WHERE {' AND '.join(clauses)}) AS e"
    )
    return _with_who(database, ", ".join(f"e.{c} AS {c}" for c in columns), rows, people)


def _with_who(database: str, picked: str, rows: str, people: bool) -> str:
    """``picked`` from ``rows`` (aliased ``e``, with ``vh`` and ``uh``) and their ``who``."""
    if not people:
        return f"(SELECT {picked}, {VISITOR_HASH} AS who FROM {rows})"
    return (
        f"(SELECT {picked}, {PERSON_HASH} AS who FROM {rows} "
        "LEFT JOIN (SELECT cityHash64(visitor_id) AS vh, cityHash64(argMin(user_id, linked_at)) "
        f"AS uh, 1 AS linked FROM {database}.identities WHERE project_id = {{project:String}} "
        "GROUP BY visitor_id) AS i ON e.vh = i.vh)"
    )


def base_parameters(
    project_id: str, start_ms: int, end_ms: int, include_bots: bool
) -> dict[str, object]:
    """The parameters ``source`` names."""
    return {
        "project": project_id,
        "start": start_ms,
        "end": end_ms,
        "include_bots": int(include_bots),
    }
