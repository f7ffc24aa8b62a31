"""Turn request bodies into validated ``NativeEvent``s, or documented errors.

Each event is decoded and validated straight from its bytes by msgspec; a batch is split into
its items first (``msgspec.Raw``), so each item is checked (and sized) on its own.

Nesting past ``jsonbody.MAX_DEPTH`` is ``400 too_deep``. A valid event nests at most ~18 levels
(its schema), so the depth is only measured when a decode fails: nothing is added to the
common case. msgspec's ``RecursionError`` (~1,000 levels) is that same 400.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from pipeline.edge.errors import (
    ApiError,
    from_rule_error,
    from_validation_error,
    payload_too_large,
)
from pipeline.edge.jsonbody import nested_too_deep, too_deep
from schemas.events import EventRuleError, NativeEvent

_event_decoder = msgspec.json.Decoder(NativeEvent)


class _BatchBody(msgspec.Struct):
    events: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))


_batch_decoder = msgspec.json.Decoder(_BatchBody)
_items_decoder = msgspec.json.Decoder(list[msgspec.Raw])


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int
    max_batch_bytes: int
    max_batch_events: int


def _malformed(exc: msgspec.DecodeError) -> ApiError:
    return ApiError(400, "invalid_json", f"malformed JSON: {exc}")


def _not_utf8() -> ApiError:
    return ApiError(400, "invalid_json", "malformed JSON: the text is not valid UTF-8")


def _not_a_batch() -> ApiError:
    return ApiError(400, "missing_field", 'events: a batch is {"events": [...]}', "events")


def _deep_or(data: bytes | msgspec.Raw, error: ApiError) -> ApiError:
    """``too_deep`` when the refused text nests past the limit, else ``error``."""
    return too_deep() if nested_too_deep(bytes(data)) else error


def decode_event(data: bytes | msgspec.Raw) -> NativeEvent:
    """One event from its JSON text, or the ``ApiError`` that describes what is wrong."""
    try:
        return _event_decoder.decode(data)
    except EventRuleError as exc:
        raise _deep_or(data, from_rule_error(exc)) from None
    except msgspec.ValidationError as exc:
        raise _deep_or(data, from_validation_error(exc)) from None
    except msgspec.DecodeError as exc:
        raise _deep_or(data, _malformed(exc)) from None
    except UnicodeDecodeError:
        raise _deep_or(data, _not_utf8()) from None
    except RecursionError:
        raise too_deep() from None


def parse_single(body: bytes, limits: Limits) -> NativeEvent:
    if len(body) > limits.max_event_bytes:
        raise payload_too_large(limits.max_event_bytes, "the event")
    return decode_event(body)


@dataclass(slots=True)
class BatchItem:
    index: int
    event: NativeEvent | None = None
    error: ApiError | None = None


def _batch_items(body: bytes) -> list[msgspec.Raw]:
    try:
        document = _batch_decoder.decode(body)
    except msgspec.ValidationError:
        raise _deep_or(body, _not_a_batch()) from None
    except msgspec.DecodeError as exc:
        raise _deep_or(body, _malformed(exc)) from None
    except UnicodeDecodeError:
        raise _deep_or(body, _not_utf8()) from None
    except RecursionError:
        raise too_deep() from None
    if not document.events:
        raise _not_a_batch()
    try:
        return _items_decoder.decode(document.events)
    except msgspec.ValidationError:
        error = ApiError(422, "invalid_field", "events: must be an array", "events")
        raise _deep_or(document.events, error) from None
    except RecursionError:
        raise too_deep() from None


def parse_batch(body: bytes, limits: Limits) -> list[BatchItem]:
    """Validate each item on its own: good events are kept even if others fail."""
    if len(body) > limits.max_batch_bytes:
        raise payload_too_large(limits.max_batch_bytes, "the batch")
    items = _batch_items(body)
    if not items:
        raise ApiError(400, "missing_field", "events: the batch is empty", "events")
    if len(items) > limits.max_batch_events:
        raise payload_too_large(limits.max_batch_events, "the number of events")
    out = []
    for index, item in enumerate(items):
        try:
            if len(item) > limits.max_event_bytes:
                raise payload_too_large(limits.max_event_bytes, "the event")
            out.append(BatchItem(index, event=decode_event(item)))
        except ApiError as error:
            out.append(BatchItem(index, error=error))
    return out
