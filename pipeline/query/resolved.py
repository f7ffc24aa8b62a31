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
