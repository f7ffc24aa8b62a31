"""A project's time zone (IANA name) for the stats API's date ranges and time buckets; UTC
when none was set. Kept in the ClickHouse ``project_settings`` table."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.sink.rows import Block

DEFAULT = "UTC"


def valid_timezone(name: str) -> bool:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "/_+-" for c in name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def get_timezone(clickhouse: Any, project_id: str) -> str:
    _, rows = clickhouse.query(
        f"SELECT timezone FROM {clickhouse.database}.project_settings FINAL "
        "WHERE project_id = {p:String}",
        {"p": project_id},
    )
    name = rows[0][0] if rows else ""
    return name if valid_timezone(name) else DEFAULT


def set_timezone(clickhouse: Any, project_id: str, name: str) -> None:
    if not valid_timezone(name):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)")
    row = (project_id, name, int(time.time() * 1000))
    clickhouse.insert(
        Block("project_settings", ("project_id", "timezone", "updated_at"), [[v] for v in row])
    )
