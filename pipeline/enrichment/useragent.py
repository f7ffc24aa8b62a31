"""User-agent parsing: browser/OS/device via ua-parser (Rust ``regex`` resolver when installed),
plus our own device-type and bot classification (rules ported from the ``user-agents`` package).

Classification, first match wins:

* ``bot``: a crawler token in the string (``...bot``, ``crawler``, ``spider``, ``headless``,
  ``slurp``, ...), or ua-parser's ``Spider`` device family unless the agent is an HTTP client.
* ``other`` (never a bot): an HTTP client library or command-line client, named by the agent's
  first product token (``Python-urllib``, ``python-requests``, ``python-httpx``, ``aiohttp``,
  ``Go-http-client``, ``Java``, ``okhttp``, ``node-fetch``, ``undici``, ``axios``, ``curl``,
  ``Wget``, ``Guzzle``, ``WordPress``… see ``HTTP_CLIENT_PRODUCTS``). That is a server-side
  sender — a backend reporting its own events — not a crawler, even where ua-parser's list
  calls it a spider (it does for ``Python-urllib`` and ``Java/``). A crawler token still wins
  (``python-requests/2.31 (MyCrawler)`` is a bot).
* ``tablet``: iPad, Kindle/Silk devices, Galaxy Tab/Xoom/Playbook..., ua-parser's generic tablet
  brands, Android (and Firefox OS) without a ``Mobile`` token, Windows RT.
* ``mobile``: iPhone/iPod, generic smartphones/feature phones, mobile browsers (Chrome Mobile,
  Opera Mini, ...), Android/iOS/KaiOS/Windows Phone/BlackBerry/Symbian..., J2ME/MIDP.
* ``desktop``: Windows NT, Mac OS X (not Silk), Chrome OS, Linux on X11 (not Maemo).
* ``other``: everything else (TVs, consoles without desktop tokens, garbage).

Brand/model: ua-parser's placeholders are blanked (``Spider`` for crawlers, ``Generic*`` brands;
for ``Generic`` the model, e.g. "Smartphone", is blanked too).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ua_parser import BestAvailableResolver, Domain, load_builtins

try:  # the Rust resolver (``ua-parser[regex]``, i.e. ``ua-parser-rs``)
    from ua_parser.regex import Resolver as RegexResolver
except ImportError:  # pragma: no cover - depends on the installed wheels
    RegexResolver = None  # type: ignore[assignment,misc]

MAX_USER_AGENT_LENGTH = 1024

# Substring tests on the lowercased string: a single alternation regex with IGNORECASE cost
# ~30 us per user agent (as much as the whole ua-parser lookup); these cost ~1 us.
_BOT_TOKENS = (
    "crawl",
    "spider",
    "headless",
    "slurp",
    "scrapy",
    "phantomjs",
    "lighthouse",
    "facebookexternalhit",
    "mediapartners",
    "feedfetcher",
    "ia_archiver",
    "bingpreview",
    "archive.org",
)
# "bot" as the end of a word ("Googlebot/", "AhrefsBot;", "Twitterbot") but not "CUBOT" phones.
_BOT_WORD = re.compile(r"(?<!cu)bot(?![a-z])")

# First product tokens (lowercased, up to the first "/", space, ";" or "(") of HTTP client
# libraries and command-line clients: how backends send events server-side.
HTTP_CLIENT_PRODUCTS = frozenset(
    {
        # Python
        "python-urllib", "python-requests", "python-httpx", "python", "aiohttp", "urllib3",
        "python-urllib3", "httplib2", "pycurl", "python-httplib2", "treq", "tornado",
        # Go, Rust, Dart, C/C++
        "go-http-client", "go", "fasthttp", "go-resty", "reqwest", "hyper", "ureq", "isahc",
        "dart", "libcurl", "curl", "wget", "cpp-httplib",
        # JVM
        "java", "java-http-client", "apache-httpclient", "apache-httpasyncclient", "okhttp",
        "jakarta", "jersey", "resteasy", "google-http-java-client", "ktor", "vert.x-webclient",
        "reactornetty", "akka-http",
        # JavaScript runtimes
        "node", "node-fetch", "undici", "axios", "got", "needle", "superagent",
        "node-superagent", "deno", "bun",
        # Ruby, PHP, Perl, .NET, Elixir/Erlang
        "ruby", "faraday", "rest-client", "httparty", "excon", "typhoeus", "httpclient",
        "guzzlehttp", "guzzle", "php", "symfony", "wordpress", "libwww-perl", "lwp::simple",
        "http-tiny", "mojolicious", "restsharp", "winhttp", "hackney", "finch", "mint",
        "req", "erlang", "elixir",
        # API tools
        "httpie", "postmanruntime", "insomnia", "appengine-google",
    }
)  # fmt: skip
_PRODUCT = re.compile(r"[a-z][a-z0-9._:+-]*")

_TABLET_DEVICE_FAMILIES = frozenset(
    {
        "iPad",
        "BlackBerry Playbook",
        "Blackberry Playbook",
        "Kindle",
        "Kindle Fire",
        "Kindle Fire HD",
        "Galaxy Tab",
        "Xoom",
        "Dell Streak",
        "Generic Tablet",
    }
)
_TABLET_BRANDS = frozenset({"Generic_Android_Tablet"})
_MOBILE_DEVICE_FAMILIES = frozenset(
    {
        "iPhone",
        "iPod",
        "Generic Smartphone",
        "Generic Feature Phone",
        "PlayStation Vita",
        "iOS-Device",
    }
)
_MOBILE_BROWSER_FAMILIES = frozenset(
    {
        "IE Mobile",
        "Opera Mobile",
        "Opera Mini",
        "Chrome Mobile",
        "Chrome Mobile WebView",
        "Chrome Mobile iOS",
        "Firefox Mobile",
        "Firefox iOS",
        "Edge Mobile",
        "Samsung Internet",
        "UC Browser",
        "MiuiBrowser",
    }
)
_MOBILE_OS_FAMILIES = frozenset(
    {
        "Android",
        "iOS",
        "KaiOS",
        "Firefox OS",
        "Windows Phone",
        "Windows Phone OS",
        "Windows Mobile",
        "Windows CE",
        "BlackBerry OS",
        "Symbian OS",
        "Symbian^3",
        "Bada",
        "Maemo",
        "MeeGo",
        "Sailfish",
        "webOS",
    }
)
_DESKTOP_OS_FAMILIES = frozenset(
    {"Windows", "Mac OS X", "Chrome OS", "Windows 95", "Windows 98", "Solaris"}
)
_PLACEHOLDER_BRANDS = frozenset({"Spider", "Generic", "Generic_Android", "Generic_Android_Tablet"})


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a user agent says about the visitor's software and hardware."""

    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device_type: str = "other"  # desktop | mobile | tablet | bot | other
    device_brand: str = ""
    device_model: str = ""
    is_bot: bool = False


_EMPTY = DeviceInfo()


def _version(major: str | None, minor: str | None, patch: str | None) -> str:
    """``"major.minor.patch"`` from the parts that are present (stops at the first missing)."""
    if not major:
        return ""
    if not minor:
        return major
    if not patch:
        return f"{major}.{minor}"
    return f"{major}.{minor}.{patch}"


def _family(name: str | None) -> str:
    return "" if not name or name == "Other" else name


def _looks_like_bot(ua: str) -> bool:
    lower = ua.lower()
    if "bot" in lower and _BOT_WORD.search(lower):
        return True
    for token in _BOT_TOKENS:  # noqa: SIM110 - a loop costs half of any(<genexpr>)
        if token in lower:
            return True
    return False


def is_http_client(ua: str) -> bool:
    """Whether the agent's first product token names an HTTP client (``HTTP_CLIENT_PRODUCTS``)."""
    product = _PRODUCT.match(ua.lower())
    return product is not None and product.group() in HTTP_CLIENT_PRODUCTS


def _device_type(ua: str, browser: str, os: str, os_version: str, family: str, brand: str) -> str:
    """Port of the ``user-agents`` package's is_bot/is_tablet/is_mobile/is_pc rules, with HTTP
    clients taken out first (``other``: ua-parser calls some spiders, some feature phones)."""
    if _looks_like_bot(ua):
        return "bot"
    if is_http_client(ua):
        return "other"
    if family == "Spider":
        return "bot"
    if (
        family in _TABLET_DEVICE_FAMILIES
        or brand in _TABLET_BRANDS
        or family.startswith("Kindle")
        or (os in ("Android", "Firefox OS") and "Mobile" not in ua)
        or (os == "Windows" and os_version.startswith("RT"))
    ):
        return "tablet"
    if (
        family in _MOBILE_DEVICE_FAMILIES
        or browser in _MOBILE_BROWSER_FAMILIES
        or os in _MOBILE_OS_FAMILIES
        or "J2ME" in ua
        or "MIDP" in ua
        or "iPhone;" in ua
    ):
        return "mobile"
    if (
        "Windows NT" in ua
        or (os in _DESKTOP_OS_FAMILIES and "Silk" not in ua)
        or ("Linux" in ua and "X11" in ua and "Maemo" not in ua)
    ):
        return "desktop"
    return "other"


_Extract = Callable[[str], Any]  # str -> object with ua-parser's attributes, or None


class UserAgentParser:
    """Parses user-agent strings into ``DeviceInfo``, with a per-instance LRU cache.

    With ``ua-parser-rs`` installed (the ``regex`` extra, as pinned) the three Rust extractors of
    ``ua_parser.regex.Resolver`` are called directly: going through ``Resolver.__call__`` costs
    ~1.5x (measured), mostly ``enum.Flag`` membership tests and result dataclasses. Without it,
    the best available ua-parser resolver is used through its public protocol (same results).
    Building one loads and compiles the ua-parser regexes (~0.5 s): make one and keep it.
    """

    def __init__(self, cache_size: int = 8192) -> None:
        matchers = load_builtins()
        if RegexResolver is not None:
            resolver: Any = RegexResolver(matchers)
            self._extract: tuple[_Extract, _Extract, _Extract] = (
                resolver.ua.extract,
                resolver.os.extract,
                resolver.de.extract,
            )
        else:
            resolver = BestAvailableResolver(matchers)
            self._extract = (
                lambda s: resolver(s, Domain.USER_AGENT).user_agent,
                lambda s: resolver(s, Domain.OS).os,
                lambda s: resolver(s, Domain.DEVICE).device,
            )
        self.resolver_name = f"{type(resolver).__module__}.{type(resolver).__name__}"
        self._cached = lru_cache(maxsize=cache_size)(self._parse_uncached)

    def parse(self, user_agent: str | None) -> DeviceInfo:
        """Parse one user agent (cached); empty or None gives ``DeviceInfo()``."""
        if not user_agent:
            return _EMPTY
        return self._cached(user_agent[:MAX_USER_AGENT_LENGTH])

    def cache_clear(self) -> None:
        """Drop the cache (for benchmarks and tests)."""
        self._cached.cache_clear()

    def _parse_uncached(self, ua: str) -> DeviceInfo:
        ua = ua.strip()
        if not ua:
            return _EMPTY
        extract_ua, extract_os, extract_device = self._extract
        try:
            agent = extract_ua(ua)
        except UnicodeEncodeError:  # lone surrogates cannot cross into the Rust resolver
            ua = ua.encode("utf-8", "replace").decode("utf-8")
            agent = extract_ua(ua)
        system = extract_os(ua)
        device = extract_device(ua)

        browser = browser_version = os = os_version = ""
        if agent is not None:
            browser = _family(agent.family)
            browser_version = _version(agent.major, agent.minor, agent.patch)
        if system is not None:
            os = _family(system.family)
            os_version = _version(system.major, system.minor, system.patch)
        family = brand = model = ""
        if device is not None:
            family = _family(device.family)
            brand = device.brand or ""
            model = device.model or ""

        device_type = _device_type(ua, browser, os, os_version, family, brand)
        if brand in _PLACEHOLDER_BRANDS:
            if brand in ("Spider", "Generic"):
                model = ""
            brand = ""
        return DeviceInfo(
            browser=browser,
            browser_version=browser_version,
            os=os,
            os_version=os_version,
            device_type=device_type,
            device_brand=brand,
            device_model=model,
            is_bot=device_type == "bot",
        )
