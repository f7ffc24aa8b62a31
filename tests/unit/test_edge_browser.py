"""``pipeline.edge.browser.decode_body``: gzip request bodies, capped after decompression."""

from __future__ import annotations

import gzip

import pytest

from pipeline.edge.browser import beacon_key, decode_body
from pipeline.edge.errors import ApiError


def test_plain_and_gzip_bodies():
    assert decode_body({}, b"{}", 10, "x") == b"{}"
    assert decode_body({"content-encoding": "identity"}, b"{}", 10, "x") == b"{}"
    assert decode_body({"content-encoding": "gzip"}, gzip.compress(b'{"a":1}'), 10, "x") == (
        b'{"a":1}'
    )


def test_expansion_past_the_limit_is_413():
    bomb = gzip.compress(b" " * 10_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(ApiError) as caught:
        decode_body({"content-encoding": "gzip"}, bomb, 500 * 1024, "the batch")
    assert caught.value.status == 413


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [("gzip", b"not gzip", 400), ("gzip", gzip.compress(b"{}" * 100)[:-12], 400), ("br", b"", 415)],
)
def test_bad_bodies(encoding, body, status):
    with pytest.raises(ApiError) as caught:
        decode_body({"content-encoding": encoding}, body, 1000, "x")
    assert caught.value.status == status


def test_beacon_key():
    assert beacon_key({"key": " k1 "}) == "k1"
    assert beacon_key({}) is None
