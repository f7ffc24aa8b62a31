"""Turn request bodies into validated ``NativeEvent``s, or documented errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from pipeline.edge.errors import ApiError, from_validation_error, payload_too_large
from schemas.events import NativeEvent


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int
    max_batch_bytes: int
    max_batch_events: int


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"malformed JSON: {exc}") from None


def validate_event(item: Any) -> NativeEvent:
    if not isinstance(item, dict):
        raise ApiError(400, "invalid_event", "an event must be a JSON object")
    try:
        return NativeEvent.model_validate(item)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def parse_single(body: bytes, limits: Limits) -> NativeEvent:
    if len(body) > limits.max_event_bytes:
        raise payload_too_large(limits.max_event_bytes, "the event")
    return validate_event(parse_json(body))


@dataclass(slots=True)
class BatchItem:
    index: int
    event: NativeEvent | None = None
    error: ApiError | None = None


def parse_batch(body: bytes, limits: Limits) -> list[BatchItem]:
    """Validate each item on its own: good events are kept even if others fail."""
    if len(body) > limits.max_batch_bytes:
        raise payload_too_large(limits.max_batch_bytes, "the batch")
    document = parse_json(body)
    if not isinstance(document, dict) or "events" not in document:
        raise ApiError(400, "missing_field", 'events: a batch is {"events": [...]}', "events")
    items = document["events"]
    if not isinstance(items, list):
        raise ApiError(422, "invalid_field", "events: must be an array", "events")
    if not items:
        raise ApiError(400, "missing_field", "events: the batch is empty", "events")
    if len(items) > limits.max_batch_events:
        raise payload_too_large(limits.max_batch_events, "the number of events")
    out = []
    check_sizes = len(body) > limits.max_event_bytes  # else no single event can be too large
    for index, item in enumerate(items):
        try:
            if check_sizes and len(orjson.dumps(item)) > limits.max_event_bytes:
                raise payload_too_large(limits.max_event_bytes, "the event")
            out.append(BatchItem(index, event=validate_event(item)))
        except ApiError as error:
            out.append(BatchItem(index, error=error))
    return out
