"""The error every layer may raise for a request it cannot answer: a documented status code and
the ``{error, message, field}`` body (the edge renders it, in a dialect's own shape where the
route has one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ApiError(Exception):
    status: int
    error: str
    message: str
    field: str | None = None
    retry_after: int | None = None

    def body(self) -> dict[str, str | None]:
        return {"error": self.error, "message": self.message, "field": self.field}
