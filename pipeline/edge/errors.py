"""API errors with their documented status codes and the ``{error, message, field}`` body."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

UNION_TAGS = frozenset(
    {
        "datetime",
        "int",
        "str",
        "float",
        "bool",
        "none",
        "ScreenContext",
        "constrained-str",
        "str-constrained",
        "dict[str,any]",
    }
)


@dataclass(slots=True)
class ApiError(Exception):
    status: int
    error: str
    message: str
    field: str | None = None

    def body(self) -> dict[str, str | None]:
        return {"error": self.error, "message": self.message, "field": self.field}


def _field_path(detail: ErrorDetails) -> str | None:
    ctx = detail.get("ctx") or {}
    if "field" in ctx:
        return str(ctx["field"])
    parts = [
        str(part)
        for part in detail["loc"]
        if not (isinstance(part, str) and (part in UNION_TAGS or "[" in part))
    ]
    return ".".join(parts) or None


def from_validation_error(exc: ValidationError) -> ApiError:
    """First problem of an event: a missing required field is 400, anything else 422."""
    details = exc.errors(include_url=False)
    missing = [d for d in details if d["type"] == "missing"]
    detail = missing[0] if missing else details[0]
    field = _field_path(detail)
    if detail["type"] == "missing":
        message = (detail.get("ctx") or {}).get("message") or "field required"
        return ApiError(400, "missing_field", f"{field}: {message}", field)
    if detail["type"] == "extra_forbidden":
        return ApiError(422, "unknown_field", f"{field}: not a field of the event", field)
    return ApiError(422, "invalid_field", f"{field}: {detail['msg']}", field)


def payload_too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "payload_too_large", f"{what} is larger than {limit} bytes")
