"""``trackhouse plan report``: the automated QA of a release — per event, the volume, the
share of events that broke a rule, the rules broken, the planned properties never sent; the
unplanned events and the event names first seen in the window."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.plans import TrackingPlan


@dataclass
class EventReport:
    event: str
    planned: bool
    volume: int = 0  # events received (stored or blocked)
    violating: int = 0  # of them, events that broke a rule
    rules: list[str] = field(default_factory=list)
    never_sent: list[str] = field(default_factory=list)  # planned properties
    new: bool = False  # first seen in the window

    @property
    def violation_rate(self) -> float:
        return self.violating / self.volume if self.volume else 0.0


@dataclass
class PlanReport:
    project_id: str
    plan_version: int
    since_ms: int
    events: list[EventReport]

    @property
    def volume(self) -> int:
        return sum(e.volume for e in self.events)

    @property
    def violation_rate(self) -> float:
        volume = self.volume
        return sum(e.violating for e in self.events) / volume if volume else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "plan_version": self.plan_version,
            "since": self.since_ms,
            "volume": self.volume,
            "violation_rate": round(self.violation_rate, 6),
            "unplanned_events": [e.event for e in self.events if not e.planned and e.volume],
            "new_events": [e.event for e in self.events if e.new],
            "events": [
                {**asdict(e), "violation_rate": round(e.violation_rate, 6)} for e in self.events
            ],
        }

    def table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["event", "planned", "volume", "violating", "rate", "rules", "never sent", "new"]
        rows = [
            [
                e.event,
                "yes" if e.planned else "NO",
                e.volume,
                e.violating,
                f"{e.violation_rate:.1%}",
                ", ".join(e.rules),
                ", ".join(e.never_sent),
                "new" if e.new else "",
            ]
            for e in self.events
        ]
        return columns, rows


def build_report(
    clickhouse: Any, project_id: str, plan: TrackingPlan | None, since_ms: int
) -> PlanReport:
    db, params = clickhouse.database, {"p": project_id, "s": since_ms}
    window = "project_id = {p:String} AND received_at >= fromUnixTimestamp64Milli({s:Int64})"
    _, volumes = clickhouse.query(
        "SELECT event, uniqExact(event_id) FROM ("
        f"SELECT event, event_id FROM {db}.events WHERE {window} AND type = 'track' "
        f"UNION ALL SELECT event, event_id FROM {db}.plan_violations FINAL "
        "WHERE project_id = {p:String} AND at >= fromUnixTimestamp64Milli({s:Int64}) "
        "AND event != '') GROUP BY event",
        params,
    )
    _, violating = clickhouse.query(
        "SELECT event, uniqExact(event_id), arraySort(groupUniqArray(rule)) "
        f"FROM {db}.plan_violations FINAL WHERE project_id = {{p:String}} "
        "AND at >= fromUnixTimestamp64Milli({s:Int64}) GROUP BY event",
        params,
    )
    _, sent = clickhouse.query(
        "SELECT event, groupUniqArray(key) FROM (SELECT event, "
        f"arrayJoin(JSONExtractKeys(properties)) AS key FROM {db}.events "
        f"WHERE {window} AND type = 'track') GROUP BY event",
        params,
    )
    _, first_seen = clickhouse.query(
        f"SELECT event FROM {db}.events WHERE project_id = {{p:String}} AND type = 'track' "
        "GROUP BY event HAVING min(received_at) >= fromUnixTimestamp64Milli({s:Int64})",
        params,
    )
    planned = {e.name: e for e in plan.events} if plan else {}
    reports: dict[str, EventReport] = {name: EventReport(name, True) for name in planned}
    for event, volume in volumes:
        reports.setdefault(event, EventReport(event, event in planned)).volume = int(volume)
    for event, count, rules in violating:
        report = reports.setdefault(event, EventReport(event, event in planned))
        report.violating, report.rules = int(count), list(rules)
    keys = {event: set(names) for event, names in sent}
    for name, spec in planned.items():
        reports[name].never_sent = sorted(set(spec.properties) - keys.get(name, set()))
    for (event,) in first_seen:
        if event in reports:
            reports[event].new = True
    ordered = sorted(reports.values(), key=lambda r: (-r.violation_rate, -r.volume, r.event))
    return PlanReport(project_id, plan.version if plan else 0, since_ms, ordered)
