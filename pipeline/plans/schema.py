"""A plan as JSON Schema (``trackhouse plan schema``): one document other services can check
an event against before they publish it (to Kafka's ``events.raw``, or the API).

The document describes a native event (``{"type", "event", "properties", "traits"}``): a
``track`` event must be a planned one and its ``properties`` follow that event's rules; an
``identify`` call's ``traits`` follow the plan's traits. It means exactly what the validate
stage checks (a property-based test holds the two together), deprecated events aside (JSON
Schema only flags them with ``deprecated: true``).
"""

from __future__ import annotations

from typing import Any

from schemas.plans import EventSpec, PropertySpec, TrackingPlan

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def property_schema(spec: PropertySpec) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if spec.type != "any":
        schema["type"] = spec.type
    if spec.description:
        schema["description"] = spec.description
    if spec.enum is not None:
        schema["enum"] = list(spec.enum)
    if spec.pattern is not None:
        schema["pattern"] = spec.pattern
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    return schema


def object_schema(properties: dict[str, PropertySpec], closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: property_schema(spec) for name, spec in properties.items()},
    }
    required = [name for name, spec in properties.items() if spec.required]
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def event_schema(event: EventSpec) -> dict[str, Any]:
    schema = object_schema(event.properties, not event.additional_properties)
    if event.description:
        schema["description"] = event.description
    if event.status == "deprecated":
        schema["deprecated"] = True
    return schema


def plan_schema(plan: TrackingPlan) -> dict[str, Any]:
    """The JSON Schema of an event that follows ``plan``."""
    names = [event.name for event in plan.events]
    by_event = [
        {
            "if": {"properties": {"event": {"const": event.name}}},
            "then": {"properties": {"properties": {"$ref": f"#/$defs/event_{index}"}}},
        }
        for index, event in enumerate(plan.events)
    ]
    then: dict[str, Any] = {"properties": {"event": {"enum": names}}}
    if by_event:
        then["allOf"] = by_event
    track = {"if": {"properties": {"type": {"const": "track"}}}, "then": then}
    identify = {
        "if": {"properties": {"type": {"const": "identify"}}, "required": ["type"]},
        "then": {"properties": {"traits": {"$ref": "#/$defs/traits"}}},
    }
    return {
        "$schema": DIALECT,
        "$id": f"trackhouse.plan.{plan.project_id or 'draft'}.v{plan.version}.schema.json",
        "title": f"Tracking plan of {plan.project_id or 'a project'}, version {plan.version}",
        "type": "object",
        "properties": {
            "type": {"enum": ["track", "page", "identify"], "default": "track"},
            "event": {"type": "string"},
            "properties": {"type": "object"},
            "traits": {"type": "object"},
        },
        "allOf": [track, identify],
        "$defs": {
            **{f"event_{index}": event_schema(event) for index, event in enumerate(plan.events)},
            "traits": object_schema(plan.traits),
        },
    }
