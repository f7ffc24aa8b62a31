"""Tracking plans (``trackhouse plan``, ``/v1/plan``): which events and properties a project
sends, the naming rules they follow, and what the pipeline does with events that break them.

A plan is a versioned document (YAML or JSON) per project; ``TrackingPlan`` is its contract
(``schemas/jsonschema/plan.tracking-plan.v1.schema.json``). ``PlanViolation`` is one row of
``plan_violations``: one rule an event broke.
"""

from __future__ import annotations

from typing import Literal

import msgspec

PropertyType = Literal["string", "number", "integer", "boolean", "object", "array", "null", "any"]
Scalar = str | int | float | bool | None
Mode = Literal["observe", "block_unplanned", "block_invalid"]
MODES: tuple[str, ...] = ("observe", "block_unplanned", "block_invalid")


class PropertySpec(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """One property of an event (or one identify trait): JSON Schema's meaning of each rule
    (``pattern`` is searched, not anchored; ``minimum``/``maximum`` are inclusive and apply
    to numbers only; ``integer`` accepts ``2.0``)."""

    type: PropertyType = "any"
    required: bool = False
    description: str = ""
    enum: list[Scalar] | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None


class EventSpec(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """One planned event: ``additional_properties: false`` makes unplanned properties
    violations; ``status: deprecated`` makes the event itself one."""

    name: str
    description: str = ""
    owner: str = ""
    status: Literal["active", "draft", "deprecated"] = "active"
    properties: dict[str, PropertySpec] = {}
    additional_properties: bool = True


class NamingRules(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """How names are written (``trackhouse plan lint``). The default is the KISSmetrics
    convention: a past-tense verb then its object, in Title Case ("Viewed Pricing",
    "Added to Cart"); ``event_form: object_action`` is the Segment one ("Order Completed")."""

    event_case: Literal["title", "snake", "camel", "any"] = "title"
    event_form: Literal["verb_object", "object_action", "any"] = "verb_object"
    verb_tense: Literal["past", "any"] = "past"
    property_case: Literal["snake", "camel", "any"] = "snake"


class TrackingPlan(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A project's tracking plan. ``version`` is set by the store (each push is the next)."""

    project_id: str = ""
    version: int = 0
    mode: Mode = "observe"
    description: str = ""
    naming: NamingRules = msgspec.field(default_factory=NamingRules)
    events: list[EventSpec] = []
    traits: dict[str, PropertySpec] = {}


class PlanViolation(msgspec.Struct):
    """One rule one event broke (``plan_violations``). ``rule`` is one of ``RULES``;
    ``property`` is empty for rules about the event itself; ``at`` is when the event was
    received (epoch ms), so a replayed event's violations collapse into the same rows."""

    project_id: str
    event_id: str
    event: str
    rule: str
    property: str
    expected: str
    got: str
    at: int
    plan_version: int


RULES: tuple[str, ...] = (
    "unplanned_event",
    "deprecated_event",
    "missing_property",
    "unexpected_property",
    "wrong_type",
    "not_in_enum",
    "pattern_mismatch",
    "below_minimum",
    "above_maximum",
)
VIOLATION_COLUMNS: tuple[str, ...] = PlanViolation.__struct_fields__


def decode_plan(data: bytes | str) -> TrackingPlan:
    """A plan from JSON; raises ``msgspec.ValidationError`` naming the bad field."""
    return msgspec.json.decode(data, type=TrackingPlan)


def plan_from_object(document: object) -> TrackingPlan:
    """A plan from parsed YAML/JSON (a dict)."""
    return msgspec.convert(document, TrackingPlan)
