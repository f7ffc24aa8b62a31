"""Stage 2½: an enriched event against its project's tracking plan (pure).

``compile_plan`` turns a ``TrackingPlan`` into fast checks once (dicts of fields, type sets,
precompiled regexes); ``validate`` runs them on one event and returns the rules it broke
(``PlanViolation`` rows), an empty tuple when it follows the plan. ``blocked`` says whether
the plan's mode stops the event (it then becomes a dead letter). The checks mean what the
plan's exported JSON Schema means (``pipeline.plans.schema``): a property-based test holds
them to the ``jsonschema`` package.

Only ``track`` events are checked against the events, and ``identify`` calls' traits against
the plan's traits; page views pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.plans import PlanViolation, PropertySpec, TrackingPlan

NO_VIOLATIONS: tuple[PlanViolation, ...] = ()
_PY_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "null": frozenset({type(None)}),
}
_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
              list: "array", type(None): "null"}  # fmt: skip


class BlockedByPlan(Exception):
    """An event the plan's mode stops; its dead letter's reason names the rules."""

    def __init__(self, violations: tuple[PlanViolation, ...] | list[PlanViolation]):
        rules = ", ".join(
            f"{v.rule}({v.property})" if v.property else v.rule for v in violations[:5]
        )
        super().__init__(f"blocked by tracking plan v{violations[0].plan_version}: {rules}")


def _enum_key(value: Any) -> tuple[str, Any]:
    """Enum membership as JSON Schema sees it: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    return ("v", value)


@dataclass(slots=True)
class FieldCheck:
    """One property's compiled rules."""

    name: str
    required: bool
    type_name: str
    types: frozenset[type] | None  # None: any type
    enum: frozenset[tuple[str, Any]] | None
    search: Callable[[str], Any] | None
    pattern: str | None
    minimum: float | None
    maximum: float | None
    bounded: bool

    def broken(self, value: Any) -> tuple[str, str, str] | None:
        """``(rule, expected, got)`` of the first rule ``value`` breaks, or None."""
        kind = type(value)
        types = self.types
        if (
            types is not None
            and kind not in types
            and not (self.type_name == "integer" and kind is float and value.is_integer())
        ):
            return "wrong_type", self.type_name, _JSON_TYPE.get(kind, kind.__name__)
        if self.enum is not None and _enum_key(value) not in self.enum:
            return "not_in_enum", _short(sorted(repr(v) for _, v in self.enum)), _short(value)
        if self.search is not None and kind is str and self.search(value) is None:
            return "pattern_mismatch", self.pattern or "", _short(value)
        if (kind is int or kind is float) and self.bounded:
            if self.minimum is not None and value < self.minimum:
                return "below_minimum", f">= {self.minimum:g}", _short(value)
            if self.maximum is not None and value > self.maximum:
                return "above_maximum", f"<= {self.maximum:g}", _short(value)
        return None


@dataclass(slots=True)
class EventCheck:
    fields: dict[str, FieldCheck]
    required: tuple[str, ...]
    closed: bool  # additional_properties: false
    deprecated: bool


@dataclass(slots=True)
class CompiledPlan:
    """A plan as fast checks (``compile_plan``)."""

    project_id: str
    version: int
    mode: str
    events: dict[str, EventCheck]
    traits: EventCheck


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:limit]


def _field(name: str, spec: PropertySpec) -> FieldCheck:
    return FieldCheck(
        name=name,
        required=spec.required,
        type_name=spec.type,
        types=_PY_TYPES.get(spec.type),
        enum=frozenset(map(_enum_key, spec.enum)) if spec.enum is not None else None,
        search=re.compile(spec.pattern).search if spec.pattern is not None else None,
        pattern=spec.pattern,
        minimum=spec.minimum,
        maximum=spec.maximum,
        bounded=spec.minimum is not None or spec.maximum is not None,
    )


def _event_check(
    properties: dict[str, PropertySpec], closed: bool = False, deprecated: bool = False
) -> EventCheck:
    fields = {name: _field(name, spec) for name, spec in properties.items()}
    required = tuple(name for name, spec in properties.items() if spec.required)
    return EventCheck(fields, required, closed, deprecated)


def compile_plan(plan: TrackingPlan) -> CompiledPlan:
    """Compile once per plan version (regexes, type sets, enum sets)."""
    events = {
        e.name: _event_check(e.properties, not e.additional_properties, e.status == "deprecated")
        for e in plan.events
    }
    return CompiledPlan(plan.project_id, plan.version, plan.mode, events, _event_check(plan.traits))


def _check(check: EventCheck, values: dict[str, Any], out: list[tuple[str, str, str, str]]) -> None:
    fields = check.fields
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            if check.closed:
                out.append(("unexpected_property", name, "not in plan", _short(value)))
            continue
        broken = field.broken(value)
        if broken is not None:
            out.append((broken[0], name, broken[1], broken[2]))
    for name in check.required:
        if name not in values:
            out.append(("missing_property", name, "required", "absent"))


def validate(event: Any, plan: CompiledPlan) -> tuple[PlanViolation, ...] | list[PlanViolation]:
    """The rules ``event`` (an ``EnrichedEvent``) breaks; ``NO_VIOLATIONS`` when none."""
    kind = event.type
    found: list[tuple[str, str, str, str]] = []
    if kind == "track":
        check = plan.events.get(event.event)
        if check is None:
            found.append(("unplanned_event", "", "a planned event", event.event))
        else:
            if check.deprecated:
                found.append(("deprecated_event", "", "not deprecated", event.event))
            if event.properties or check.required:
                _check(check, event.properties, found)
    elif kind == "identify" and (plan.traits.fields or plan.traits.closed):
        _check(plan.traits, event.traits, found)
    if not found:
        return NO_VIOLATIONS
    pid, eid, name, at, version = (
        event.project_id, event.event_id, event.event, event.received_at, plan.version
    )  # fmt: skip
    return [PlanViolation(pid, eid, name, r, p, x, g, at, version) for r, p, x, g in found]


Violations = tuple[PlanViolation, ...] | list[PlanViolation]


def blocked(plan: CompiledPlan, violations: Violations) -> bool:
    """Whether the plan's mode stops an event with these violations: ``block_unplanned``
    stops unplanned events, ``block_invalid`` every event that breaks a rule."""
    mode = plan.mode
    if mode == "observe" or not violations:
        return False
    if mode == "block_invalid":
        return True
    return any(v.rule == "unplanned_event" for v in violations)
