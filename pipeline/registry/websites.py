"""Privacy-dashboard websites: a public tracking code (``pm-<random>-<ms timestamp>``) names a
website, which belongs to a project. Kept in the ClickHouse ``websites`` table; cached in memory
and re-read on a miss (at most every 5 s), like the project keys."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog

from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
COLUMNS = (
    "website_id",
    "tracking_code",
    "project_id",
    "name",
    "domain",
    "description",
    "created_at",
)
TRACKING_CODE = re.compile(r"^pm-[a-z0-9]+-\d{13}$")
RELOAD_AT_MOST_EVERY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Website:
    website_id: str
    tracking_code: str
    project_id: str
    name: str
    domain: str
    description: str
    created_at: int  # epoch ms


def new_tracking_code(now_ms: int) -> str:
    """``pm-<random>-<ms timestamp>`` as the privacy dashboard issues them."""
    return f"pm-{secrets.token_hex(4)}-{now_ms:013d}"


def is_tracking_code(code: str) -> bool:
    return bool(TRACKING_CODE.match(code))


class WebsiteRegistry:
    """Tracking code -> website; ``clickhouse`` is a ``ClickHouse`` or the embedded runtime's
    ``RemoteClickHouse`` (query and insert are all it needs)."""

    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse
        self._sites: dict[str, Website] = {}
        self._lock = threading.Lock()
        self._loaded_at = 0.0

    def reload(self) -> None:
        _, rows = self.clickhouse.query(
            f"SELECT {', '.join(COLUMNS)}, toUnixTimestamp64Milli(created_at) "
            f"FROM {self.clickhouse.database}.websites FINAL"
        )
        sites = {row[1]: Website(*row[:6], created_at=row[7]) for row in rows}
        with self._lock:
            self._sites = sites
            self._loaded_at = time.monotonic()

    def create(self, project_id: str, name: str, domain: str, description: str) -> Website:
        now_ms = int(time.time() * 1000)
        site = Website(
            "web_" + secrets.token_hex(8),
            new_tracking_code(now_ms),
            project_id,
            name,
            domain,
            description,
            now_ms,
        )
        row = (
            site.website_id,
            site.tracking_code,
            site.project_id,
            site.name,
            site.domain,
            site.description,
            site.created_at,
        )
        self.clickhouse.insert(Block("websites", COLUMNS, [[value] for value in row]))
        with self._lock:
            self._sites[site.tracking_code] = site
        log.info("website.created", project_id=project_id, website_id=site.website_id)
        return site

    def find(self, tracking_code: str) -> Website | None:
        """The website of a tracking code, or None (re-read from ClickHouse on a miss)."""
        site = self._sites.get(tracking_code)
        if site is None and time.monotonic() - self._loaded_at > RELOAD_AT_MOST_EVERY_SECONDS:
            self.reload()
            site = self._sites.get(tracking_code)
        return site

    def of_project(self, project_id: str) -> list[Website]:
        self.reload()
        return [s for s in self._sites.values() if s.project_id == project_id]
