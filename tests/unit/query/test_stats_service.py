"""Which project a ``site_id`` names: the project id, or a domain or tracking code of one of its
websites (read from the ``websites`` table)."""

from __future__ import annotations

from typing import Any

from pipeline.query.stats.service import StatsService


class Websites:
    """The ``websites`` rows a ``WebsiteRegistry`` reads, as ClickHouse would answer."""

    database = "db"

    def query(self, sql: str, parameters: dict[str, Any] | None = None):
        assert "FROM db.websites FINAL" in sql
        return [], [
            ("web_1", "pm-abc-1700000000000", "prj_1", "Shop", "https://www.Shop.example/", "", 0,
             1700000000000),
            ("web_2", "pm-def-1700000000000", "prj_2", "Blog", "blog.example", "", 0,
             1700000000000),
        ]  # fmt: skip


def test_site_ids():
    service = StatsService(Websites())
    assert service.site_matches("prj_1", "prj_1")
    assert service.site_matches("prj_1", "shop.example")
    assert service.site_matches("prj_1", "www.shop.example")
    assert service.site_matches("prj_1", "pm-abc-1700000000000")
    assert not service.site_matches("prj_1", "blog.example")  # another project's website
    assert not service.site_matches("prj_1", "pm-def-1700000000000")
    assert not service.site_matches("prj_1", "prj_2")
    assert not service.site_matches("prj_1", "")
