"""The HTTP interface's wire details: credentials as ClickHouse clients send them, bounded
body decompression, answer compression."""

from __future__ import annotations

import base64
import gzip
import zlib

import cramjam
import pytest

from pipeline.query import clickhouse_http as wire


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        (basic("default", "tok"), {}),
        (basic("anyone", "tok"), {}),
        ({"x-clickhouse-user": "default", "x-clickhouse-key": "tok"}, {}),
        ({"authorization": "Bearer tok"}, {}),
        ({}, {"user": "default", "password": "tok"}),
    ],
)
def test_the_token_is_accepted_as_clients_send_a_password(headers, params):
    wire.authenticate("tok", headers, params)


def test_no_password_is_401_and_a_wrong_one_403_authentication_failed():
    with pytest.raises(wire.HttpRefusal) as missing:
        wire.authenticate("tok", {}, {})
    assert (missing.value.status, missing.value.code) == (401, 194)
    for headers in (basic("default", "nope"), {"authorization": "Bearer tok2"}, basic("x", "")):
        with pytest.raises(wire.HttpRefusal) as wrong:
            wire.authenticate("tok", headers, {})
        assert (wrong.value.status, wrong.value.code, wrong.value.name) == (
            403,
            516,
            "AUTHENTICATION_FAILED",
        )


def test_bodies_are_decompressed_within_the_query_size_limit():
    sql = b"SELECT 1"
    assert wire.decode_body(gzip.compress(sql), "gzip") == sql
    assert wire.decode_body(zlib.compress(sql), "deflate") == sql
    assert wire.decode_body(sql, "") == sql
    bomb = gzip.compress(b" " * (wire.MAX_QUERY_BYTES * 4))
    with pytest.raises(wire.HttpRefusal) as too_large:
        wire.decode_body(bomb, "gzip")
    assert too_large.value.status == 413
    for body, encoding in ((b"not gzip", "gzip"), (sql, "snappy")):
        with pytest.raises(wire.HttpRefusal) as bad:
            wire.decode_body(body, encoding)
        assert bad.value.status == 400


def test_answers_are_compressed_as_the_client_accepts():
    data = b'{"n":1}\n' * 100
    assert wire.response_encoding("lz4, zstd, br, gzip", True) == "lz4"
    assert wire.response_encoding("snappy, br, gzip", True) == "br"
    assert wire.response_encoding("gzip;q=1.0, identity", True) == "gzip"
    assert wire.response_encoding("gzip", False) == ""
    assert wire.response_encoding("identity", True) == ""
    assert gzip.decompress(wire.compress(data, "gzip")) == data
    assert zlib.decompress(wire.compress(data, "deflate")) == data
    assert bytes(cramjam.zstd.decompress(wire.compress(data, "zstd"))) == data
    assert bytes(cramjam.brotli.decompress(wire.compress(data, "br"))) == data
    assert bytes(cramjam.lz4.decompress(wire.compress(data, "lz4"))) == data


def test_error_bodies_are_clickhouses_text():
    assert wire.error_body(164, "READONLY", "no") == b"Code: 164. DB::Exception: no. (READONLY)\n"
    engine = "Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)"
    assert wire.error_body(60, "", engine) == (engine + "\n").encode()
    assert [wire.status_of(c) for c in (516, 194, 164, 497, 60, 159, 62, 396)] == [
        403,
        401,
        403,
        403,
        404,
        408,
        400,
        400,
    ]
