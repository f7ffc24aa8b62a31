"""The stats API (Plausible's Stats API v2): docs/stats-api.md."""
