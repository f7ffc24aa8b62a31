"""Stage 2: ``RawEvent`` -> ``EnrichedEvent``: device from the user agent, geo from the IP (which
is then dropped), page/referrer/UTM from the URLs."""

from __future__ import annotations

from pathlib import Path

import msgspec

from pipeline.enrichment.geo import open_geo
from pipeline.enrichment.pages import parse_page
from pipeline.enrichment.useragent import UserAgentParser
from schemas.records import EnrichedEvent, EventCore, RawEvent

# EnrichedEvent is built positionally: msgspec's keyword construction of its 47 fields costs
# ~3 µs an event, positional ~0.2 µs. tests/unit/stages/test_enrich.py checks every field by name.
_URL_AT = EventCore.__struct_fields__.index("url")  # then "referrer"


class Enricher:
    """Holds the (cached) parsers; ``enrich`` itself is a pure function of the event."""

    def __init__(self, geo_database: Path | None = None) -> None:
        self.user_agents = UserAgentParser()
        self.geo = open_geo(geo_database)  # no database installed: a warning, empty geo

    def enrich(self, raw: RawEvent) -> EnrichedEvent:
        device = self.user_agents.parse(raw.user_agent)
        geo = self.geo.lookup(raw.ip)
        page = parse_page(raw.url, raw.referrer)
        core = msgspec.structs.astuple(raw)[:-1]  # the IP (last) was used above, and is dropped
        return EnrichedEvent(
            *core[:_URL_AT],
            page.url,
            page.referrer,
            *core[_URL_AT + 2 :],
            page.path if raw.url else "",
            page.referrer_domain,
            page.utm_source,
            page.utm_medium,
            page.utm_campaign,
            page.utm_term,
            page.utm_content,
            device.browser,
            device.browser_version,
            device.os,
            device.os_version,
            device.device_type,
            device.device_brand,
            device.device_model,
            device.is_bot,
            geo.country,
            geo.region,
            geo.city,
        )

    def close(self) -> None:
        self.geo.close()
