"""Trackhouse's Python server SDK.

    from trackhouse_sdk import Client

    client = Client()  # key from $TRACKHOUSE_KEY, host http://127.0.0.1:8000
    client.track("Signed Up", {"plan": "pro"}, user_id="u_42")
    client.identify("u_42", {"email": "a@b.test"}, visitor_id="vis_123")
    client.revenue(99.99, "USD", order_id="o_1", user_id="u_42")
    client.shutdown()  # flushes (also done at exit)

Module-level helpers use one default client, created on first use (``init`` configures it):
``track``, ``identify``, ``page``, ``revenue``, ``capture_event``, ``flush``, ``shutdown``.
"""

from __future__ import annotations

import threading
from typing import Any

from trackhouse_sdk.client import REVENUE_CHANNEL, Client, NetworkError
from trackhouse_sdk.errors import (
    ApiError,
    AuthenticationError,
    TimeoutError,
    TrackhouseError,
    ValidationError,
)

__all__ = [
    "REVENUE_CHANNEL",
    "ApiError",
    "AuthenticationError",
    "Client",
    "NetworkError",
    "TimeoutError",
    "TrackhouseError",
    "ValidationError",
    "capture_event",
    "flush",
    "identify",
    "init",
    "page",
    "revenue",
    "shutdown",
    "track",
]

_default: Client | None = None
_default_lock = threading.Lock()


def init(key: str | None = None, host: str = "http://127.0.0.1:8000", **options: Any) -> Client:
    """(Re)configure the default client used by the module-level helpers."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.shutdown()
        _default = Client(key, host, **options)
        return _default


def default_client() -> Client:
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def track(event: str, properties: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return default_client().track(event, properties, **kwargs)


def identify(user_id: str, traits: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return default_client().identify(user_id, traits, **kwargs)


def page(url: str | None = None, **kwargs: Any) -> Any:
    return default_client().page(url, **kwargs)


def revenue(amount: float, currency: str, **kwargs: Any) -> Any:
    return default_client().revenue(amount, currency, **kwargs)


def capture_event(data: dict[str, Any], from_user_id: str | None = None) -> Any:
    """AnalyticsKit-style: ``capture_event(data={...}, from_user_id=uid)``."""
    return default_client().capture_event(data, from_user_id)


def flush(timeout: float | None = None) -> bool:
    return default_client().flush(timeout) if _default is not None else True


def shutdown(timeout: float | None = None) -> bool:
    global _default
    with _default_lock:
        client, _default = _default, None
    return client.shutdown(timeout) if client is not None else True
