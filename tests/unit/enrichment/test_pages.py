"""parse_page: path, UTM tags, referrer domain and self-referrals, bad input."""

from __future__ import annotations

import pytest

from pipeline.enrichment.pages import PageInfo, parse_page


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://shop.test/pricing?utm_source=x", "/pricing"),
        ("https://shop.test/docs/install#step-2", "/docs/install"),
        ("https://shop.test", "/"),
        ("https://shop.test?a=1", "/"),
        ("https://shop.test/a%20b/", "/a%20b/"),
        ("/relative/path?x=1", "/relative/path"),
        ("http://[::1/broken?utm_source=a", "/broken"),  # urlsplit raises; we don't
        ("http://[::1?x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_path(url, path):
    assert parse_page(url, None).path == path


def test_url_is_stripped_and_truncated():
    assert parse_page("  https://shop.test/x \n", None).url == "https://shop.test/x"
    long_url = "https://shop.test/" + "a" * 5000
    info = parse_page(long_url, None)
    assert info.url == long_url[:2048]
    assert info.path == "/" + "a" * (2048 - len("https://shop.test/"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "utm_source=newsletter&utm_medium=email&utm_campaign=launch",
            ("newsletter", "email", "launch", "", ""),
        ),
        (
            "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=web+analytics"
            "&utm_content=ad%201",
            ("google", "cpc", "brand", "web analytics", "ad 1"),
        ),
        ("UTM_SOURCE=Upper&Utm_Medium=Mixed", ("Upper", "Mixed", "", "", "")),
        ("utm_source=first&utm_source=second", ("first", "", "", "", "")),
        ("utm_source=%20%20padded%20&utm_medium=", ("padded", "", "", "", "")),
        ("utm_source", ("", "", "", "", "")),
        ("q=utm_source%3Dfake&utm_sourcex=no", ("", "", "", "", "")),
        ("utm_source=" + "s" * 500, ("s" * 256, "", "", "", "")),
        ("utm_source=%ZZbad&utm_medium=%E2%82%AC", ("%ZZbad", "€", "", "", "")),
    ],
)
def test_utm(query, expected):
    info = parse_page(f"https://shop.test/landing?{query}#utm_term=frag", None)
    assert (
        info.utm_source,
        info.utm_medium,
        info.utm_campaign,
        info.utm_term,
        info.utm_content,
    ) == expected


def test_utm_only_from_the_page_url_not_the_referrer():
    info = parse_page("https://shop.test/", "https://news.test/?utm_source=ref")
    assert info.utm_source == ""


@pytest.mark.parametrize(
    ("url", "referrer", "domain"),
    [
        ("https://shop.test/", "https://www.google.com/search?q=x", "google.com"),
        ("https://shop.test/", "https://News.YCombinator.com/item?id=1", "news.ycombinator.com"),
        ("https://shop.test/", "http://www.Bing.com:8080/search", "bing.com"),
        ("https://shop.test/", "https://t.co/abc", "t.co"),
        ("https://shop.test/", "https://wwwx.example/", "wwwx.example"),
        ("https://shop.test/", "android-app://com.google.android.gm/", "com.google.android.gm"),
        ("https://shop.test/", "google.com/search", "google.com"),
        ("https://shop.test/", "https://[2001:db8::1]:443/x", "2001:db8::1"),
        ("https://shop.test/", "https://example.org./", "example.org"),
        # self-referrals: same host, port and www. ignored
        ("https://shop.test/b", "https://shop.test/a", ""),
        ("https://www.shop.test/b", "https://shop.test:8443/a", ""),
        ("https://SHOP.test/b", "https://www.shop.TEST/a", ""),
        # a subdomain is someone else
        ("https://shop.test/", "https://blog.shop.test/", "blog.shop.test"),
        # nothing to parse
        ("https://shop.test/", "", ""),
        ("https://shop.test/", None, ""),
        ("https://shop.test/", "/just/a/path", ""),
        ("https://shop.test/", "http://[::1/broken", ""),
        ("https://shop.test/", "https://bad:port:x/", "bad"),
        (None, "https://www.google.com/", "google.com"),
    ],
)
def test_referrer_domain(url, referrer, domain):
    info = parse_page(url, referrer)
    assert info.referrer_domain == domain
    assert info.referrer == (referrer or "").strip()


def test_full_result():
    assert parse_page(
        "https://shop.test/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
        "https://www.google.com/search?q=x",
    ) == PageInfo(
        url="https://shop.test/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
        path="/pricing",
        referrer="https://www.google.com/search?q=x",
        referrer_domain="google.com",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="launch",
    )


@pytest.mark.parametrize(
    ("url", "referrer"),
    [
        ("\x00\ud800://", "\ud800"),
        ("http://[", "https://]"),
        ("::::", "::::"),
        ("https://shop.test/?" + "&".join(["utm_source=a"] * 2000), "x" * 10_000),
        ("javascript:alert(1)", "data:text/html,hi"),
    ],
)
def test_garbage_never_raises(url, referrer):
    info = parse_page(url, referrer)
    assert isinstance(info, PageInfo)
    assert len(info.url) <= 2048 and len(info.referrer) <= 2048


def test_empty_inputs():
    assert parse_page(None, None) == PageInfo(path="/")
