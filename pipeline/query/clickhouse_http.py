"""The wire details of ClickHouse's HTTP interface that live SQL answers with: credentials,
compression both ways, the ``X-ClickHouse-*`` headers, error bodies and their HTTP statuses."""

from __future__ import annotations

import base64
import hmac
import zlib
from collections.abc import Mapping

import cramjam
import orjson

from pipeline.sink.raw_sql import RawAnswer

MAX_QUERY_BYTES = 1024 * 1024  # a query text (ClickHouse's max_query_size is 256 KiB)
# Statuses of ClickHouse's HTTP handler for the codes live SQL answers with; any other error of
# an analyst's query is the query's fault (400). Storage unavailable is a 503.
STATUS_OF_CODE = {
    516: 403,  # AUTHENTICATION_FAILED
    194: 401,  # REQUIRED_PASSWORD
    164: 403,  # READONLY
    497: 403,  # ACCESS_DENIED
    46: 404,  # UNKNOWN_FUNCTION
    47: 404,  # UNKNOWN_IDENTIFIER
    50: 404,  # UNKNOWN_TYPE
    60: 404,  # UNKNOWN_TABLE
    81: 404,  # UNKNOWN_DATABASE
    115: 404,  # UNKNOWN_SETTING
    159: 408,  # TIMEOUT_EXCEEDED (max_execution_time)
    202: 503,  # TOO_MANY_SIMULTANEOUS_QUERIES
}
CONTENT_TYPES = {
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONLines": "application/x-ndjson; charset=UTF-8",
    "NDJSON": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
}
BINARY_FORMATS = frozenset({"Native", "RowBinary", "RowBinaryWithNamesAndTypes", "Parquet"})
ENCODINGS = ("gzip", "deflate", "br", "zstd", "lz4")


class HttpRefusal(Exception):
    """An error answered before the query runs (ClickHouse's code and name, our status)."""

    def __init__(self, status: int, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.name, self.message = status, code, name, message


def password(headers: Mapping[str, str], params: Mapping[str, str]) -> str | None:
    """The password the client sends, the ways ClickHouse clients do: Basic auth,
    ``X-ClickHouse-Key``, a Bearer token, or ``?password=``; None when it sends none."""
    if "x-clickhouse-key" in headers:
        return headers["x-clickhouse-key"]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    if scheme.lower() == "bearer":
        return value.strip()
    return params.get("password")


def authenticate(token: str, headers: Mapping[str, str], params: Mapping[str, str]) -> None:
    """Raises ``HttpRefusal`` unless the request carries the analyst token."""
    given = password(headers, params)
    if given is None:
        raise HttpRefusal(
            401,
            194,
            "REQUIRED_PASSWORD",
            "trackhouse: Authentication required: send the analyst token "
            "(TRACKHOUSE_ANALYST_TOKEN) as the password",
        )
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HttpRefusal(
            403,
            516,
            "AUTHENTICATION_FAILED",
            "trackhouse: Authentication failed: password is incorrect "
            "(the analyst token, TRACKHOUSE_ANALYST_TOKEN)",
        )


def decode_body(body: bytes, encoding: str) -> bytes:
    """A request body as sent (``Content-Encoding`` gzip or deflate), at most
    ``MAX_QUERY_BYTES`` once decompressed."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        data = body
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
        try:
            data = inflater.decompress(body, MAX_QUERY_BYTES + 1)
        except zlib.error as exc:
            raise HttpRefusal(
                400, 36, "BAD_ARGUMENTS", f"Cannot decompress the body: {exc}"
            ) from None
    else:
        raise HttpRefusal(
            400, 36, "BAD_ARGUMENTS", f"Unknown Content-Encoding {encoding!r} (gzip, deflate)"
        )
    if len(data) > MAX_QUERY_BYTES:
        raise too_large()
    return data


def too_large() -> HttpRefusal:
    return HttpRefusal(413, 62, "SYNTAX_ERROR", f"Max query size exceeded ({MAX_QUERY_BYTES})")


def response_encoding(accept: str, enabled: bool) -> str:
    """The first encoding of ``Accept-Encoding`` we can produce ('' = none, or not enabled)."""
    if not enabled:
        return ""
    for part in accept.split(","):
        name = part.split(";")[0].strip().lower()
        if name in ENCODINGS:
            return name
    return ""


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        return compressor.compress(data) + compressor.flush()
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return bytes(cramjam.brotli.compress(data))
    if encoding == "zstd":
        return bytes(cramjam.zstd.compress(data))
    if encoding == "lz4":
        return bytes(cramjam.lz4.compress(data))
    return data


def answer_headers(
    answer: RawAnswer, fmt: str, query_id: str, timezone: str, encoding: str
) -> dict[str, str]:
    summary = {
        "read_rows": str(answer.read_rows),
        "read_bytes": str(answer.read_bytes),
        "written_rows": "0",
        "written_bytes": "0",
        "total_rows_to_read": str(answer.read_rows),
        "result_bytes": str(len(answer.data)),
        "elapsed_ns": str(answer.elapsed_ns),
    }
    headers = {
        "Content-Type": content_type(fmt),
        "X-ClickHouse-Format": fmt,
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Timezone": timezone,
        "X-ClickHouse-Server-Display-Name": "trackhouse",
        "X-ClickHouse-Summary": orjson.dumps(summary).decode(),
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    return headers


def content_type(fmt: str) -> str:
    if fmt in CONTENT_TYPES:
        return CONTENT_TYPES[fmt]
    if fmt.startswith("JSON"):
        return "application/json; charset=UTF-8"
    if fmt in BINARY_FORMATS:
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def error_body(code: int, name: str, message: str) -> bytes:
    """ClickHouse's error text: ``Code: N. DB::Exception: message. (NAME)``."""
    if message.startswith("Code: "):
        return (message.rstrip() + "\n").encode()
    return f"Code: {code}. DB::Exception: {message}. ({name})\n".encode()


def status_of(code: int) -> int:
    return STATUS_OF_CODE.get(code, 400)
