"""Page URL + referrer -> path, referrer domain and UTM tags (``urllib.parse``, never raises)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, urlsplit

MAX_URL_LENGTH = 2048
MAX_UTM_LENGTH = 256
_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True, slots=True)
class PageInfo:
    """Where an event happened and where the visitor came from."""

    url: str = ""
    path: str = ""
    referrer: str = ""
    referrer_domain: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None


def _host(parts: SplitResult | None) -> str:
    """Lowercase host without port, trailing dot or a leading ``www.``."""
    if parts is None:
        return ""
    try:
        host = parts.hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _utm(query: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if "utm_" not in query.lower():
        return found
    for key, value in parse_qsl(query, keep_blank_values=True):
        key = key.strip().lower()
        if key in _UTM_KEYS and key not in found:
            found[key] = value.strip()[:MAX_UTM_LENGTH]
    return found


@lru_cache(maxsize=65_536)  # real traffic repeats (url, referrer) pairs; PageInfo is immutable
def parse_page(url: str | None, referrer: str | None) -> PageInfo:
    """Parse a page URL and its referrer.

    ``url``/``referrer`` are kept as given (stripped, cut to 2048 chars). ``path`` is the URL
    path without query/fragment ("/" when empty; a URL without scheme and host is taken as a
    path). UTM tags come from the URL's query: first value, case-insensitive keys, trimmed, cut
    to 256 chars. ``referrer_domain`` is the referrer's lowercase host without port and
    ``www.``, or "" for a self-referral (same host as the page, ``www.`` ignored); a referrer
    without a scheme ("google.com/x") is read as a host.
    """
    page_url = (url or "").strip()[:MAX_URL_LENGTH]
    ref = (referrer or "").strip()[:MAX_URL_LENGTH]

    page_parts = _split(page_url) if page_url else None
    path = "/"
    query = ""
    if page_parts is not None:
        path = page_parts.path or "/"
        query = page_parts.query
    elif page_url:  # unparseable (e.g. bad IPv6 host): cut scheme/host, query and fragment
        before, _, query = page_url.partition("#")[0].partition("?")
        if "//" in before:
            after_host = before.split("//", 1)[1]
            slash = after_host.find("/")
            before = after_host[slash:] if slash >= 0 else ""
        path = before or "/"
    utm = _utm(query)

    referrer_domain = ""
    if ref:
        ref_parts = _split(ref)
        schemeless = ref_parts is not None and not ref_parts.scheme and not ref_parts.netloc
        if schemeless and not ref.startswith("/"):
            ref_parts = _split("//" + ref)
        referrer_domain = _host(ref_parts)
        if referrer_domain and referrer_domain == _host(page_parts):
            referrer_domain = ""

    return PageInfo(
        url=page_url,
        path=path,
        referrer=ref,
        referrer_domain=referrer_domain,
        utm_source=utm.get("utm_source", ""),
        utm_medium=utm.get("utm_medium", ""),
        utm_campaign=utm.get("utm_campaign", ""),
        utm_term=utm.get("utm_term", ""),
        utm_content=utm.get("utm_content", ""),
    )
