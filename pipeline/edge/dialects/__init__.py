"""Adapters for what existing tracking clients send (issue: "accept what existing tracking
clients send"). Each dialect is one module with ``install(app, edge)`` that adds its own routes,
maps each request onto ``NativeEvent``s and calls ``edge.accept`` — the same validation,
normalization, publisher and stages as the native API — and answers exactly as the product it
imitates documents. Their mappings onto native columns are documented in ``schemas/dialects.md``.
"""

from __future__ import annotations

from fastapi import FastAPI

from pipeline.edge.context import Edge

# Each entry: a module of this package with ``install(app: FastAPI, edge: Edge) -> None``.
DIALECTS: tuple[str, ...] = (
    "kitbase",
    "privacy_dashboard",
    "ascendkit",
    "segment",
    "kissmetrics",  # before posthog: it decides whose a POST /e is
    "posthog",
    "warnings",
)


def install(app: FastAPI, edge: Edge) -> None:
    """Add every dialect's routes to ``app``."""
    from importlib import import_module

    for name in DIALECTS:
        import_module(f"{__name__}.{name}").install(app, edge)
