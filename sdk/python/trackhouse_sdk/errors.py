"""Typed errors of the SDK (the same family as Kitbase's):

=====================  ===========  ==============================================
Error                  HTTP status  Meaning
=====================  ===========  ==============================================
``AuthenticationError``  401        missing or unknown write key
``ValidationError``      400/422    a missing or invalid field (``.field`` names it);
                                    also raised locally, before sending
``TimeoutError``         --         the request timed out (after the retries)
``ApiError``             4xx/5xx    any other answer (``.status_code``, ``.response``)
``TrackhouseError``      --         base class (also: network errors, closed client)
=====================  ===========  ==============================================

``AuthenticationError`` and server-side ``ValidationError`` are ``ApiError`` subclasses, so
check them first.
"""

from __future__ import annotations

import builtins
from typing import Any


class TrackhouseError(Exception):
    """Base class of every SDK error."""


class ApiError(TrackhouseError):
    """The API answered with an error status; ``response`` is its decoded JSON body (or text)."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        response: Any = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.response = response
        self.error = error


class AuthenticationError(ApiError):
    """401: the write key is missing or unknown."""


class ValidationError(ApiError):
    """400/422 (or refused before sending): ``field`` names the offending field, if known."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        status_code: int | None = None,
        response: Any = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message, status_code, response, error)
        self.field = field


class TimeoutError(TrackhouseError, builtins.TimeoutError):
    """The request did not complete within the client's ``timeout``."""


def from_response(status_code: int, body: Any) -> ApiError:
    """The typed error for an error answer ``{error, message, field}``."""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or f"HTTP {status_code}")
        error, field = body.get("error"), body.get("field")
    else:
        message, error, field = f"HTTP {status_code}: {str(body)[:200]}", None, None
    if status_code == 401:
        return AuthenticationError(message, status_code, body, error)
    if status_code in (400, 422):
        return ValidationError(message, field, status_code, body, error)
    return ApiError(message, status_code, body, error)
