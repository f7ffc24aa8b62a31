"""Stage 2 as a whole: every field of the enriched record comes out under its own name."""

from __future__ import annotations

import msgspec

from pipeline.enrichment.pages import parse_page
from pipeline.stages.enrich import Enricher
from schemas.records import RawEvent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def test_enrich_keeps_the_core_fields_adds_page_device_geo_and_drops_the_ip():
    raw = RawEvent(
        event_id="e1",
        project_id="p1",
        type="page",
        event="pageview",
        timestamp=1,
        received_at=2,
        channel="web",
        visitor_id="v1",
        user_id="u1",
        message_id="m1",
        properties={"a": 1},
        traits={"b": 2},
        icon="i",
        notify=True,
        description="d",
        url="https://shop.test/cart?utm_source=news&utm_medium=mail&utm_campaign=c&utm_term=t&utm_content=x",
        referrer="https://www.google.com/search?q=1",
        title="Cart",
        locale="en-GB",
        screen="390x844",
        user_agent=CHROME_WINDOWS,
        session_id="s1",
        revenue_amount=1.5,
        revenue_currency="EUR",
        order_id="o1",
        product_id="pr1",
        duration_ms=3.0,
        ip="81.2.69.142",
    )
    enricher = Enricher()
    try:
        enriched = msgspec.structs.asdict(enricher.enrich(raw))
    finally:
        enricher.close()
    page = parse_page(raw.url, raw.referrer)
    expected = msgspec.structs.asdict(raw) | {
        "url": page.url,
        "referrer": page.referrer,
        "path": "/cart",
        "referrer_domain": "google.com",
        "utm_source": "news",
        "utm_medium": "mail",
        "utm_campaign": "c",
        "utm_term": "t",
        "utm_content": "x",
        "browser": "Chrome",
        "browser_version": "120.0.0",
        "os": "Windows",
        "os_version": "10",
        "device_type": "desktop",
        "device_brand": "",
        "device_model": "",
        "is_bot": False,
        "country": "GB",
        "region": "England",
        "city": "London",
    }
    del expected["ip"]
    assert enriched == expected
