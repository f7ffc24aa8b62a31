"""Stage 2: ``RawEvent`` -> ``EnrichedEvent``: device from the user agent, geo from the IP (which
is then dropped), page/referrer/UTM from the URLs."""

from __future__ import annotations

from pathlib import Path

import msgspec

from pipeline.enrichment.geo import GeoResolver
from pipeline.enrichment.pages import parse_page
from pipeline.enrichment.useragent import UserAgentParser
from schemas.records import EnrichedEvent, RawEvent


class Enricher:
    """Holds the (cached) parsers; ``enrich`` itself is a pure function of the event."""

    def __init__(self, geo_database: Path | None = None) -> None:
        self.user_agents = UserAgentParser()
        self.geo = GeoResolver(geo_database)

    def enrich(self, raw: RawEvent) -> EnrichedEvent:
        device = self.user_agents.parse(raw.user_agent)
        geo = self.geo.lookup(raw.ip)
        page = parse_page(raw.url, raw.referrer)
        core = msgspec.structs.asdict(raw)
        del core["ip"]  # used for the lookup above, then dropped
        core["url"], core["referrer"] = page.url, page.referrer
        return EnrichedEvent(
            **core,
            path=page.path if raw.url else "",
            referrer_domain=page.referrer_domain,
            utm_source=page.utm_source,
            utm_medium=page.utm_medium,
            utm_campaign=page.utm_campaign,
            utm_term=page.utm_term,
            utm_content=page.utm_content,
            browser=device.browser,
            browser_version=device.browser_version,
            os=device.os,
            os_version=device.os_version,
            device_type=device.device_type,
            device_brand=device.device_brand,
            device_model=device.device_model,
            is_bot=device.is_bot,
            country=geo.country,
            region=geo.region,
            city=geo.city,
        )

    def close(self) -> None:
        self.geo.close()
