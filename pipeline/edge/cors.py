"""CORS by route. Any origin may send events: ingest routes answer ``*`` (write keys are public
and no cookies are used) and allow every dialect's own headers in preflight; so do the public
``GET``s a browser library needs (Segment's settings document, KISSmetrics' pixels). Reads and admin
calls carry secret keys or the admin token: only ``TRACKHOUSE_CORS_ORIGINS`` (none by default)
may make them from a browser."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.edge.dialects import ascendkit, kissmetrics, posthog, segment

INGEST_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "X-API-Key",
    "Authorization",  # Bearer keys; Segment's Basic auth
    "X-Retry-Count",  # analytics.js on its retries
    ascendkit.PUBLIC_HEADER,
    ascendkit.SECRET_HEADER,
)
READ_HEADERS = ("Content-Type", "X-API-Key", "Authorization", ascendkit.SECRET_HEADER)
EXPOSED = ("Retry-After",)
PREFLIGHT_METHOD = b"access-control-request-method"


def ingest_paths() -> frozenset[str]:
    """Every path that takes events with POST (the native API and each dialect's)."""
    return frozenset(
        {"/v1/events", "/v1/batch"}
        | {f"/v1/{kind}" for kind in segment.MESSAGE_TYPES}
        | {f"/v1/{letter}" for letter in segment.SHORT_PATHS} | {segment.BROWSER_BATCH_PATH}
        | {variant for path in posthog.PATHS for variant in (path, f"{path}/")}
        | set(kissmetrics.PIXEL_PATHS)  # KISSmetrics (POST /e is shared with PostHog)
        | {"/sdk/v1/logs", "/sdk/v1/logs/batch"}  # Kitbase
        | {"/api/v1/events", "/api/v1/events/batch"}  # privacy dashboard, AscendKit's server
        | {"/v1/analytics/collect", "/api/v1/analytics/collect"}  # AscendKit
        | {"/v1/analytics/identify", "/v1/analytics/signout", "/v1/analytics/waitlist",
           "/v1/analytics/waitlist/approve"}
    )


def is_public_get(path: str) -> bool:
    """``GET`` routes any origin may read: Segment's settings document (it only names the write
    key's own public settings) and KISSmetrics' tracking pixels."""
    if path.startswith("/v1/projects/") and path.endswith("/settings"):
        return path.count("/") == 4
    return path in kissmetrics.PIXEL_PATHS


class RouteCors:
    """ASGI middleware: ``POST`` to an ingest path (or its preflight) gets CORS for any origin;
    every other request CORS for ``origins`` only (none: no CORS headers at all)."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.paths = ingest_paths()
        self.ingest = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST"],
            allow_headers=INGEST_HEADERS,
            expose_headers=EXPOSED,
            max_age=86400,
        )
        self.other: ASGIApp = (
            CORSMiddleware(
                app,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=READ_HEADERS,
                expose_headers=EXPOSED,
                max_age=600,
            )
            if origins
            else app
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":  # a preflight names the method it asks for
            requested = (v for k, v in scope["headers"] if k == PREFLIGHT_METHOD)
            method = next(requested, b"").decode("latin-1").upper()
        path = scope["path"]
        ingest = (method == "POST" and path in self.paths) or (
            method == "GET" and is_public_get(path)
        )
        await (self.ingest if ingest else self.other)(scope, receive, send)
