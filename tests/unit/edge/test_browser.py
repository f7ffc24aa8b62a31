"""``pipeline.edge.browser.decode_body``: gzip request bodies, capped after decompression."""

from __future__ import annotations

import gzip

import pytest

from pipeline.edge.browser import beacon_key, decode_body, require_json
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


def test_a_body_expanding_past_the_ratio_is_413_even_under_the_size_cap():
    bomb = gzip.compress(b" " * 400_000)  # 400 KB of blanks: under 500 KB, but > 100:1
    with pytest.raises(ApiError) as caught:
        decode_body({"content-encoding": "gzip"}, bomb, 500 * 1024, "the batch")
    assert caught.value.status == 413 and "100:1" in caught.value.message
    import uuid

    import orjson

    batch = orjson.dumps(
        {"events": [{"event": "e", "visitor_id": str(uuid.uuid4()), "message_id": str(uuid.uuid4())}
                    for _ in range(3000)]}
    )  # fmt: skip
    assert decode_body({"content-encoding": "gzip"}, gzip.compress(batch), 500 * 1024, "x") == batch


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("", True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain;charset=UTF-8", True),
        ("application/vnd.api+json", True),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("application/xml", False),
    ],
)
def test_native_api_media_types(content_type, ok):
    headers = {"content-type": content_type} if content_type else {}
    if ok:
        require_json(headers)
    else:
        with pytest.raises(ApiError) as caught:
            require_json(headers)
        assert (caught.value.status, caught.value.error) == (415, "unsupported_media_type")
