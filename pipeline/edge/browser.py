"""What browsers and SDKs need from the edge, kept apart from the API handlers:

- ``decode_body``: ``Content-Encoding: gzip`` request bodies (the SDKs compress batches). The
  decompressed size is capped by the same limit as a plain body (413 past it), so a small
  "zip bomb" cannot expand without bound; past 64 KB a body may not expand more than 100:1
  (413); other encodings are refused with 415.
- ``require_json``: the native API refuses media types other than JSON/text/plain with 415.
- ``beacon_key``: ``navigator.sendBeacon`` cannot set headers, so ``POST /v1/batch`` also takes
  the write key as a ``?key=`` query parameter (headers win when both are present).
- ``install``: ``GET /t.js``, the minified browser tracker (CORS is ``pipeline.edge.cors``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from pipeline.edge.errors import ApiError, payload_too_large

MAX_RATIO = 100  # real event batches compress 5-20:1
RATIO_CHECKED_ABOVE = 64 * 1024  # small bodies may compress further, harmlessly
JSON_MEDIA_TYPES = frozenset({"", "application/json", "text/plain"})  # text/plain: beacons
TRACKER_JS = Path(__file__).parent / "static" / "t.js"


def decode_body(headers: Mapping[str, str], body: bytes, limit: int, what: str) -> bytes:
    """``body`` as sent, or gunzipped when ``Content-Encoding: gzip`` (at most ``limit``)."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise payload_too_large(limit, what)
        if not inflater.eof:
            raise ApiError(400, "invalid_body", "truncated gzip body")
        if len(out) > RATIO_CHECKED_ABOVE and len(out) > MAX_RATIO * len(body):
            raise ApiError(
                413, "payload_too_large", f"gzip body expands more than {MAX_RATIO}:1 (a zip bomb?)"
            )
    except zlib.error as exc:
        raise ApiError(400, "invalid_body", f"malformed gzip body: {exc}") from None
    return out


def require_json(headers: Mapping[str, str]) -> None:
    """The native API takes JSON: ``application/json`` (or ``+json``), ``text/plain`` (what
    ``sendBeacon`` and CORS-simple requests send) or no type; anything else is 415."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in JSON_MEDIA_TYPES and not media.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type {media!r}: send application/json"
        )


def beacon_key(query: Mapping[str, str]) -> str | None:
    key = query.get("key", "").strip()
    return key or None


def install(app: FastAPI) -> None:
    @app.get("/t.js", include_in_schema=False)
    async def tracker_js() -> Response:
        """The browser tracker (``tracker/``, built by ``npm run build``)."""
        if not TRACKER_JS.exists():
            raise ApiError(
                404, "not_found", "the tracker is not built (cd tracker && npm run build)"
            )
        return Response(
            TRACKER_JS.read_bytes(),
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
        )
