"""UserAgentParser: browser/OS/device from ua-parser, our device-type and bot rules, caching."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.enrichment.useragent import DeviceInfo, UserAgentParser

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
KINDLE = (
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/120.1.1 like Chrome/120.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
CHROMEOS = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/120.0.6099.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)"
)
CUBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0"
FIREFOX_ANDROID_PHONE = "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0"
SURFACE_RT = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0; Touch)"


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser()


def test_uses_the_rust_regex_resolver(parser):
    assert parser.resolver_name == "ua_parser.regex.Resolver"


def test_chrome_on_windows(parser):
    info = parser.parse(CHROME_WINDOWS)
    assert info == DeviceInfo(
        browser="Chrome",
        browser_version="120.0.0",
        os="Windows",
        os_version="10",
        device_type="desktop",
        is_bot=False,
    )


def test_iphone_safari(parser):
    info = parser.parse(IPHONE)
    assert (info.browser, info.browser_version) == ("Mobile Safari", "17.1.2")
    assert (info.os, info.os_version) == ("iOS", "17.1.2")
    assert (info.device_type, info.device_brand, info.device_model) == ("mobile", "Apple", "iPhone")
    assert info.is_bot is False


def test_googlebot(parser):
    info = parser.parse(GOOGLEBOT)
    assert (info.browser, info.device_type, info.is_bot) == ("Googlebot", "bot", True)
    # ua-parser's "Spider"/"Desktop" placeholders are not a brand or model.
    assert (info.device_brand, info.device_model) == ("", "")


@pytest.mark.parametrize(
    ("user_agent", "device_type"),
    [
        (CHROME_WINDOWS, "desktop"),
        (MAC_SAFARI, "desktop"),
        (LINUX_FIREFOX, "desktop"),
        (CHROMEOS, "desktop"),
        (IPHONE, "mobile"),
        (ANDROID_PHONE, "mobile"),
        (CUBOT_PHONE, "mobile"),  # "CUBOT" must not trip the "bot" token rule
        (FIREFOX_ANDROID_PHONE, "mobile"),
        (IPAD, "tablet"),
        (ANDROID_TABLET, "tablet"),
        (FIREFOX_ANDROID_TABLET, "tablet"),
        (KINDLE, "tablet"),
        (SURFACE_RT, "tablet"),
        (GOOGLEBOT, "bot"),
        (GOOGLEBOT_SMARTPHONE, "bot"),
        (HEADLESS, "bot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot"),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot"),
        ("Mozilla/5.0 (compatible; SomeNewCrawler/0.1)", "bot"),
        ("curl/8.0.1", "other"),
        ("python-requests/2.31.0", "other"),
        ("Wget/1.21", "other"),
        ("totally not a user agent", "other"),
    ],
)
def test_device_type(parser, user_agent, device_type):
    info = parser.parse(user_agent)
    assert info.device_type == device_type
    assert info.is_bot is (device_type == "bot")


# Default User-Agents of HTTP client libraries and command-line clients, as they send them:
# server-side senders (a backend reporting its events), never crawlers. ua-parser's own list
# calls the first two spiders, and libwww-perl/HTTPie feature phones.
HTTP_CLIENTS = (
    "Python-urllib/3.11",
    "Java/17.0.2",
    "Java/1.8.0_392",
    "python-requests/2.31.0",
    "python-httpx/0.27.0",
    "Python/3.11 aiohttp/3.9.1",
    "python-urllib3/2.1.0",
    "posthog-python/3.0.2",
    "Go-http-client/1.1",
    "Go-http-client/2.0",
    "Java-http-client/17.0.2",
    "Apache-HttpClient/4.5.14 (Java/17.0.2)",
    "okhttp/4.12.0",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "node",
    "undici",
    "axios/1.6.7",
    "got (https://github.com/sindresorhus/got)",
    "Deno/1.40.0",
    "Bun/1.0.25",
    "curl/8.5.0",
    "Wget/1.21.4",
    "libwww-perl/6.72",
    "HTTP-Tiny/0.088",
    "Ruby",
    "Faraday v2.9.0",
    "rest-client/2.1.0 (linux x86_64) ruby/3.2.2p53",
    "GuzzleHttp/7",
    "WordPress/6.4.2; https://shop.example",
    "Dart/3.2 (dart:io)",
    "RestSharp/110.2.0.0",
    "HTTPie/3.2.2",
    "PostmanRuntime/7.36.1",
    "hackney/1.20.1",
)
CRAWLERS = (
    GOOGLEBOT,
    GOOGLEBOT_SMARTPHONE,
    HEADLESS,
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
    "+https://openai.com/gptbot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36",
    # an HTTP library that says it crawls is a crawler
    "python-requests/2.31.0 (compatible; ShopCrawler/1.0)",
)


@pytest.mark.parametrize("user_agent", HTTP_CLIENTS)
def test_http_clients_are_server_side_senders_not_bots(parser, user_agent):
    info = parser.parse(user_agent)
    assert (info.is_bot, info.device_type) == (False, "other")


@pytest.mark.parametrize("user_agent", CRAWLERS)
def test_crawlers_are_bots(parser, user_agent):
    info = parser.parse(user_agent)
    assert (info.is_bot, info.device_type) == (True, "bot")


def test_http_clients_are_not_bots_but_keep_their_name(parser):
    info = parser.parse("curl/8.0.1")
    assert (info.browser, info.browser_version, info.is_bot) == ("curl", "8.0.1", False)
    assert info.os == ""
    urllib = parser.parse("Python-urllib/3.11")
    assert (urllib.browser, urllib.browser_version) == ("Python-urllib", "3.11")
    assert urllib.is_bot is False


def test_generic_brand_placeholders_are_blanked(parser):
    tablet = parser.parse(ANDROID_TABLET)
    assert (tablet.device_brand, tablet.device_model) == ("", "SM-X710")
    phone = parser.parse(FIREFOX_ANDROID_PHONE)
    assert (phone.device_brand, phone.device_model) == ("", "")
    pixel = parser.parse(ANDROID_PHONE)
    assert (pixel.device_brand, pixel.device_model) == ("Google", "Pixel 8")


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_gives_default(parser, empty):
    assert parser.parse(empty) == DeviceInfo()
    assert DeviceInfo().device_type == "other"


@pytest.mark.parametrize(
    "garbage",
    ["\x00\xff;;;(((", "\ud800 lone surrogate \udfff", "()" * 3000, "🙂" * 50, "\n\t\r"],
)
def test_garbage_never_raises(parser, garbage):
    assert isinstance(parser.parse(garbage), DeviceInfo)


def test_surrogates_still_parse(parser):
    info = parser.parse(CHROME_WINDOWS + " \ud800")
    assert (info.browser, info.os) == ("Chrome", "Windows")


def test_long_input_is_truncated_before_parsing():
    parser = UserAgentParser()
    long_ua = CHROME_WINDOWS + " x" * 100_000
    info = parser.parse(long_ua)
    assert (info.browser, info.device_type) == ("Chrome", "desktop")
    # The cache key is the truncated string: another long tail with the same head is a hit.
    parser.parse(CHROME_WINDOWS + " x" * 50_000)
    stats = parser._cached.cache_info()
    assert (stats.hits, stats.misses) == (1, 1)
    # A token past the 1024-char cut is not seen.
    assert parser.parse("x" * 1024 + " Googlebot/2.1").is_bot is False


def test_cache_is_per_instance_and_bounded():
    first, second = UserAgentParser(cache_size=2), UserAgentParser(cache_size=2)
    assert first.parse(IPHONE) is first.parse(IPHONE)
    assert first._cached.cache_info().hits == 1
    assert second._cached.cache_info().currsize == 0
    for ua in (IPHONE, IPAD, GOOGLEBOT):
        first.parse(ua)
    assert first._cached.cache_info().currsize == 2


def test_device_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DeviceInfo().browser = "x"  # type: ignore[misc]


def test_fallback_through_the_resolver_protocol_gives_the_same_results(parser, monkeypatch):
    """Without ua-parser-rs the pure-Python resolver is used through ua-parser's public API."""
    import ua_parser

    from pipeline.enrichment import useragent

    monkeypatch.setattr(useragent, "RegexResolver", None)
    monkeypatch.setattr(useragent, "BestAvailableResolver", ua_parser.BasicResolver)
    fallback = UserAgentParser()
    assert fallback.resolver_name == "ua_parser.basic.Resolver"
    for ua in (CHROME_WINDOWS, IPHONE, IPAD, GOOGLEBOT, ANDROID_TABLET, "curl/8.0.1", "junk"):
        assert fallback.parse(ua) == parser.parse(ua), ua
