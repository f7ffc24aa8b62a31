import pytest

from pipeline.edge.client import api_key, client_ip, parse_networks, same_secret

TRUSTED = parse_networks(["127.0.0.0/8", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("127.0.0.1", "81.2.69.142", "81.2.69.142"),
        ("127.0.0.1", "81.2.69.142, 10.1.1.1", "81.2.69.142"),
        ("127.0.0.1", "6.6.6.6, 81.2.69.142", "81.2.69.142"),
        ("203.0.113.9", "81.2.69.142", "203.0.113.9"),
        ("127.0.0.1", None, "127.0.0.1"),
    ],
)
def test_forwarded_for_is_honoured_only_from_trusted_proxies(peer, xff, expected):
    assert client_ip(peer, xff, TRUSTED) == expected


def test_api_key_from_header_or_bearer():
    assert api_key({"x-api-key": "k1"}) == "k1"
    assert api_key({"authorization": "Bearer k2"}) == "k2"
    assert api_key({"authorization": "Basic abc"}) is None
    assert api_key({}) is None


def test_same_secret_takes_any_characters():
    assert same_secret("tok-é🔑", "tok-é🔑")
    assert not same_secret("ключ", "token")  # hmac.compare_digest("ключ", "token"): TypeError
    assert not same_secret("\udcff", "token")  # a lone surrogate is compared, not raised
    assert not same_secret(None, "token") and not same_secret("", "") and not same_secret("x", "")
