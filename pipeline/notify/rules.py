"""Which events a project's rules pick, and for which destinations."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pipeline.notify.config import Destination, Rule, parse_filter
from schemas.records import EnrichedEvent

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "=": operator.eq, "!=": operator.ne,
}  # fmt: skip


def _field(event: EnrichedEvent, name: str) -> Any:
    if name.startswith("properties."):
        return event.properties.get(name[11:])
    if name in EnrichedEvent.__struct_fields__:
        return getattr(event, name)
    return event.properties.get(name)


def compile_filter(text: str) -> Callable[[EnrichedEvent], bool]:
    parsed = parse_filter(text)
    if parsed is None:
        return lambda _event: True
    name, op, value = parsed
    compare = OPERATORS[op]

    def test(event: EnrichedEvent) -> bool:
        actual = _field(event, name)
        if actual is None:
            return False
        try:
            if isinstance(value, float) and not isinstance(actual, bool):
                return compare(float(actual), value)
            return compare(str(actual), str(value))
        except (TypeError, ValueError):
            return False

    return test


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    destinations: tuple[str, ...]
    test: Callable[[EnrichedEvent], bool]

    def picks(self, event: EnrichedEvent) -> bool:
        r = self.rule
        if r.kind == "notify" and not event.notify:
            return False
        if r.event_pattern and not fnmatchcase(event.event, r.event_pattern):
            return False
        if r.channel and event.channel != r.channel:
            return False
        return self.test(event)


class ProjectRules:
    """A project's event rules (notify, match) and default-rule destinations, compiled."""

    __slots__ = ("default", "rules")

    def __init__(self, destinations: list[Destination], rules: list[Rule]) -> None:
        ids = tuple(d.destination_id for d in destinations)
        self.default = tuple(d.destination_id for d in destinations if d.all_notify)
        self.rules = [
            CompiledRule(
                r,
                ids if not r.destination_id else tuple(i for i in ids if i == r.destination_id),
                compile_filter(r.filter),
            )
            for r in rules
            if r.kind in ("notify", "match")
        ]

    def destinations_for(self, event: EnrichedEvent) -> list[tuple[str, str]]:
        """(destination id, rule id) pairs for ``event``, each destination once."""
        picked: dict[str, str] = {}
        if event.notify:
            for destination in self.default:
                picked[destination] = "default"
        for compiled in self.rules:
            if compiled.picks(event):
                for destination in compiled.destinations:
                    picked.setdefault(destination, compiled.rule.rule_id)
        return list(picked.items())


def compile_all(destinations: list[Destination], rules: list[Rule]) -> dict[str, ProjectRules]:
    by_project: dict[str, tuple[list[Destination], list[Rule]]] = {}
    for d in destinations:
        by_project.setdefault(d.project_id, ([], []))[0].append(d)
    for r in rules:
        by_project.setdefault(r.project_id, ([], []))[1].append(r)
    return {p: ProjectRules(ds, rs) for p, (ds, rs) in by_project.items() if ds}
