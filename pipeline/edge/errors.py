"""API errors with their documented status codes and the ``{error, message, field}`` body."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from pipeline.errors import ApiError
from schemas.events import EventRuleError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

# msgspec's messages: "<reason> - at `$.context.page.url`"; a missing or unknown field is
# named in the reason: "Object missing required field `x`", "Object contains unknown field `x`".
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`$")


def _dotted(path: str) -> str:
    """``.context.page[0]`` -> ``context.page``; ``.properties[...]`` -> ``properties``."""
    return re.sub(r"\[[^\]]*\]", "", path).strip(".")


def from_validation_error(exc: msgspec.ValidationError) -> ApiError:
    """One event's problem: a missing required field is 400, anything else 422."""
    match = _AT.match(str(exc))
    reason = match["reason"] if match else str(exc)
    field = _dotted(match["path"] or "") if match else ""
    named = _NAMED.match(reason)
    if named:
        field = ".".join(part for part in (field, named["name"]) if part)
        if named["what"] == "missing required":
            return ApiError(400, "missing_field", f"{field}: field required", field)
        return ApiError(422, "unknown_field", f"{field}: not a field of the event", field)
    if not field:
        return ApiError(400, "invalid_event", f"an event must be a JSON object ({reason})")
    return ApiError(422, "invalid_field", f"{field}: {reason}", field)


def from_rule_error(exc: EventRuleError) -> ApiError:
    if exc.kind == "missing":
        return ApiError(400, "missing_field", str(exc), exc.field)
    return ApiError(422, "invalid_field", str(exc), exc.field)


def rate_limited(wait_seconds: float) -> ApiError:
    retry = max(1, math.ceil(wait_seconds))
    return ApiError(
        429, "rate_limited", f"too many events for this key; retry in {retry} s", None, retry
    )


def unavailable(reason: str = "") -> ApiError:
    """Events cannot be made durable right now (``PublishUnavailableError``): 503, with the
    reason when given (the pipeline is behind, the storage process stalled, the disk is full)."""
    reason = reason.removesuffix("; retry later").strip()
    why = f" ({reason})" if reason else ""
    return ApiError(
        503, "unavailable", f"events cannot be stored right now{why}; retry later", None, 5
    )


def payload_too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "payload_too_large", f"{what} is larger than {limit} bytes")


ErrorShape = Callable[["Request", ApiError], "Response | None"]


def answers_errors(shape: ErrorShape) -> Callable[[Any], Any]:
    """Mark a route's endpoint: the app's handlers answer its ``ApiError``s (and 503s) with
    ``shape(request, error)`` — a dialect's own error body — instead of ``{error, message,
    field}``. ``shape`` may return None for the native answer."""

    def mark(endpoint: Any) -> Any:
        endpoint.error_shape = shape
        return endpoint

    return mark


def error_shape(request: Request) -> ErrorShape | None:
    """The error shape of the endpoint that served ``request`` (None: native)."""
    return getattr(request.scope.get("endpoint"), "error_shape", None)
