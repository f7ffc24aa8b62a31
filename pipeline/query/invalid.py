"""The read side's one error: a query parameter or body field the caller got wrong.

The edge answers it as ``400 invalid_query`` in the native ``{error, message, field}`` shape
(``pipeline/edge/analytics.py``); this package does not import the edge."""

from __future__ import annotations


class InvalidQuery(ValueError):
    """``field`` (dotted: ``steps.1.page``) and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = f"{field}: {message}"
