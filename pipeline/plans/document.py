"""Reading a plan document (YAML or JSON text) into a ``TrackingPlan`` that compiles, with
errors that name the field: what ``plan push``, ``plan lint`` and ``PUT /v1/plan`` accept."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson
import yaml

from pipeline.stages.validate import compile_plan
from schemas.plans import TrackingPlan, plan_from_object

_PATH = re.compile(r"at `\$\.?(.*)`$")


class PlanError(ValueError):
    """A plan that cannot be used; ``field`` is a dotted path (``events[0].properties``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def parse_text(text: str | bytes) -> Any:
    """JSON (a document that starts with ``{``) or YAML to Python objects; raises
    ``PlanError``."""
    if text.lstrip()[:1] in ("{", b"{"):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise PlanError(f"not JSON: {exc}") from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise PlanError(f"not YAML: {str(exc)[:300]}") from None


def to_plan(document: Any) -> TrackingPlan:
    """A plan from a parsed document; every pattern compiles and every event name is unique."""
    if not isinstance(document, dict):
        raise PlanError("a plan is an object (events, traits, naming, mode)")
    try:
        plan = plan_from_object(document)
    except msgspec.ValidationError as exc:
        match = _PATH.search(str(exc))
        raise PlanError(str(exc), match.group(1) if match else None) from None
    names = [event.name for event in plan.events]
    for index, name in enumerate(names):
        if not name.strip():
            raise PlanError("an event needs a name", f"events[{index}].name")
        if name in names[:index]:
            raise PlanError(f"{name!r} is planned twice", f"events[{index}].name")
    try:
        compile_plan(plan)
    except re.error as exc:
        raise PlanError(f"a pattern is not a regular expression: {exc}", "pattern") from None
    return plan


def read_plan(text: str | bytes) -> TrackingPlan:
    return to_plan(parse_text(text))


def plan_document(plan: TrackingPlan) -> dict[str, Any]:
    """The plan as plain data (what ``plan pull`` writes and ``GET /v1/plan`` answers)."""
    return msgspec.to_builtins(plan)


def dump_yaml(plan: TrackingPlan) -> str:
    return yaml.safe_dump(plan_document(plan), sort_keys=False, allow_unicode=True)
