"""Every POST route is classified for CORS: ingest (any origin) or not (configured origins)."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.edge.app import create_app
from pipeline.edge.context import EdgeServices
from pipeline.edge.cors import ingest_paths, is_public_get
from pipeline.settings import Settings

# POST routes that are not ingest: admin calls (the admin token), website registration, and
# reads or settings with the secret key (stats queries, goals, funnels): configured origins only.
NOT_INGEST_PREFIXES = (
    "/admin/",
    "/api/v1/websites",
    "/api/v2/query",
    "/api/v1/goals",
    "/v1/funnels",
)


def test_every_post_route_is_ingest_or_admin():
    registry = SimpleNamespace(start_refreshing=lambda: None)
    app = create_app(EdgeServices(Settings(), registry, None, SimpleNamespace(database="db")))
    posts = {r.path for r in app.routes if "POST" in (getattr(r, "methods", None) or ())}
    unclassified = {
        path for path in posts - ingest_paths() if not path.startswith(NOT_INGEST_PREFIXES)
    }
    assert not unclassified, f"add them to pipeline/edge/cors.py ingest_paths: {unclassified}"
    assert ingest_paths() <= posts  # no stale entries


def test_public_gets_are_the_settings_document_and_the_pixels_only():
    assert is_public_get("/v1/projects/thw_abc/settings")
    assert all(is_public_get(path) for path in ("/e", "/s", "/a"))
    for path in ("/v1/events", "/v1/projects/x/settings/more", "/v1/projects//x/settings",
                 "/v1/sessions", "/v1/ingestion_warnings", "/e/"):  # fmt: skip
        assert not is_public_get(path), path
