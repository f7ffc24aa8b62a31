"""Trackhouse: HTTP edge -> enrich -> sessionize -> stitch -> ClickHouse."""
