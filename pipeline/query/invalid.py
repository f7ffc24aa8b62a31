"""The read side's one error: a query parameter or body field the caller got wrong.

It is an ``ApiError`` (``400 invalid_query`` in the native ``{error, message, field}`` shape),
so the edge's one ``ApiError`` handler answers it; this package does not import the edge."""

from __future__ import annotations

from pipeline.errors import ApiError


class InvalidQuery(ApiError, ValueError):
    """``field`` (dotted: ``steps.1.page``) and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        ApiError.__init__(self, 400, "invalid_query", f"{field}: {message}", field)

    def __str__(self) -> str:
        return self.message
