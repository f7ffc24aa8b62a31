"""Write the JSON Schema of every API payload and record into ``schemas/jsonschema/``.

Run ``python -m schemas.export`` after changing a model; a test fails when the files are stale.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec
from pydantic import TypeAdapter

from schemas.batches import EnrichedBatch
from schemas.events import BatchAccepted, ErrorBody, EventAccepted, EventBatch, NativeEvent
from schemas.plans import PlanViolation, TrackingPlan
from schemas.records import DeadLetter, EnrichedEvent, IdentityLink, RawEvent, UserUpdate
from schemas.sessions import Session

OUT_DIR = Path(__file__).parent / "jsonschema"
CONTRACTS: dict[str, Any] = {
    "api.event.v1": NativeEvent,
    "api.batch.v1": EventBatch,
    "api.event-accepted.v1": EventAccepted,
    "api.batch-accepted.v1": BatchAccepted,
    "api.error.v1": ErrorBody,
    "record.raw-event.v1": RawEvent,
    "record.raw-batch.v1": list[RawEvent],
    "record.enriched-event.v1": EnrichedEvent,
    "record.enriched-batch.v1": EnrichedBatch,
    "record.identity-link.v1": IdentityLink,
    "record.user-update.v1": UserUpdate,
    "record.session.v1": Session,
    "record.dead-letter.v1": DeadLetter,
    "record.plan-violations.v1": list[PlanViolation],
    "plan.tracking-plan.v1": TrackingPlan,
}


def json_schema(model: Any) -> dict[str, Any]:
    """JSON Schema of a msgspec Struct (or a list of them), a pydantic model or a dataclass."""
    if typing.get_origin(model) is list or (
        isinstance(model, type) and issubclass(model, msgspec.Struct)
    ):
        [schema], components = msgspec.json.schema_components(
            [model], ref_template="#/$defs/{name}"
        )
        if "$ref" in schema:
            schema = schema_of_ref(schema, components)
        return {**schema, "$defs": components}
    return TypeAdapter(model).json_schema()


def inlined_schema(model: Any) -> dict[str, Any]:
    """``json_schema`` with every ``#/$defs/...`` reference replaced by its definition, for
    documents (OpenAPI) where local definitions cannot live beside the schema."""
    schema = json_schema(model)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


def schema_of_ref(ref: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    return dict(components[ref["$ref"].rsplit("/", 1)[-1]])


def render() -> dict[str, str]:
    """File name -> JSON text for every contract."""
    out = {}
    for name, model in CONTRACTS.items():
        schema = json_schema(model)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> None:
    OUT_DIR.mkdir(exist_ok=True)
    for stale in OUT_DIR.glob("*.schema.json"):
        stale.unlink()
    for file_name, text in render().items():
        (OUT_DIR / file_name).write_text(text)


if __name__ == "__main__":
    main()
