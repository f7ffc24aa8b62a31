"""``trackhouse plan infer``: a draft plan from the data already stored — the ``track`` events
seen in the last N days, their properties with the JSON types sent (a property sent with every
event of its name is ``required``), and the identify traits. Names are kept as they are: run
``plan lint`` on the draft to see which break the naming rules."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.plans import EventSpec, PropertySpec, TrackingPlan

# ClickHouse's JSONType -> the plan's type
_TYPES = {
    "String": "string",
    "Int64": "integer",
    "UInt64": "integer",
    "Double": "number",
    "Bool": "boolean",
    "Null": "null",
    "Array": "array",
    "Object": "object",
}


def _merged(types: set[str]) -> str:
    if len(types) == 1:
        return next(iter(types))
    if types <= {"integer", "number"}:
        return "number"
    return "any"


def _keys_sql(database: str, column: str, kind: str) -> str:
    return (
        f"SELECT event, key, JSONType({column}, key) AS json_type, count() AS n "
        f"FROM (SELECT event, {column}, arrayJoin(JSONExtractKeys({column})) AS key "
        f"FROM {database}.events WHERE project_id = {{p:String}} AND type = '{kind}' "
        "AND received_at >= now64(3) - toIntervalDay({d:UInt32})) "
        "GROUP BY event, key, json_type ORDER BY event, key"
    )


def _specs(rows: list[tuple[Any, ...]], totals: dict[str, int]) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, tuple[set[str], int]]] = defaultdict(dict)
    for event, key, json_type, count in rows:
        types, n = seen[event].get(key, (set(), 0))
        types.add(_TYPES.get(json_type, "any"))
        seen[event][key] = (types, n + int(count))
    return {
        event: {
            key: PropertySpec(type=_merged(types), required=n >= totals.get(event, 0) > 0)
            for key, (types, n) in sorted(keys.items())
        }
        for event, keys in seen.items()
    }


def infer_plan(clickhouse: Any, project_id: str, days: int) -> TrackingPlan:
    db, params = clickhouse.database, {"p": project_id, "d": days}
    _, counted = clickhouse.query(
        f"SELECT event, count() FROM {db}.events WHERE project_id = {{p:String}} "
        "AND type = 'track' AND received_at >= now64(3) - toIntervalDay({d:UInt32}) "
        "GROUP BY event ORDER BY count() DESC, event",
        params,
    )
    totals = {event: int(n) for event, n in counted}
    _, rows = clickhouse.query(_keys_sql(db, "properties", "track"), params)
    properties = _specs(rows, totals)
    _, trait_rows = clickhouse.query(_keys_sql(db, "traits", "identify"), params)
    traits: dict[str, PropertySpec] = {}
    for specs in _specs(trait_rows, {}).values():  # every identify call, whatever its name
        for key, spec in specs.items():
            known = traits.get(key)
            traits[key] = spec if known is None or known.type == spec.type else PropertySpec()
    events = [
        EventSpec(
            name=event,
            description=f"seen {n} times in the last {days} days",
            status="draft",
            properties=properties.get(event, {}),
        )
        for event, n in totals.items()
    ]
    return TrackingPlan(project_id=project_id, events=events, traits=traits)
