"""Building dead letters (pure): what failed, where, why — and never the IP."""

from __future__ import annotations

import base64
import ipaddress
import re
import time
import uuid
from typing import Any

import orjson

from schemas.records import DeadLetter, EnrichedEvent, RawEvent, encode_record

REASON_LIMIT = 500
DEAD_NAMESPACE = uuid.UUID("6f1d3c1e-9a51-4f4b-8b7e-1f0d5d3e2a77")
SPOOL_TOPIC = "spool"
# Anything that looks like an IPv4 or IPv6 address in text that is not JSON (or not ours).
_IP_LIKE = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"
)


def reason_of(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:REASON_LIMIT]


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return "[ip removed]"


def _without_ip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ip(v) for k, v in value.items() if k != "ip"}
    if isinstance(value, list):
        return [_without_ip(v) for v in value]
    return value


def scrub(data: bytes) -> tuple[str, str]:
    """The record as stored: ``(text, encoding)``. JSON loses every ``ip`` key (records and
    native events carry the IP only there; the rest stays as sent, so a replay is faithful);
    other text has IP-looking substrings masked; non-UTF-8 bytes become base64 (an IP
    in there is not text any more)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(data).decode("ascii"), "base64"
        return _IP_LIKE.sub(_mask, text), "text"
    return orjson.dumps(_without_ip(document)).decode("utf-8"), "text"


def dead_id(*parts: object) -> str:
    """Deterministic: the same failure delivered twice is one dead letter."""
    return str(uuid.uuid5(DEAD_NAMESPACE, "/".join(str(p) for p in parts)))


def dead_letter(
    data: bytes | None,
    reason: str,
    stage: str,
    *,
    topic: str,
    partition: int = 0,
    offset: int = -1,
    record_type: str = "",
    project_id: str = "",
    identity: str | None = None,
) -> DeadLetter:
    """A dead letter of ``data``. ``identity`` names the failure for ``dead_id`` (default:
    topic/partition/offset, which a Kafka record has; the spool uses the event id)."""
    record, encoding = scrub(data or b"")
    return DeadLetter(
        record=record,
        reason=reason[:REASON_LIMIT],
        stage=stage,
        topic=topic,
        partition=partition,
        offset=offset,
        encoding=encoding,
        record_type=record_type,
        project_id=project_id,
        failed_at=int(time.time() * 1000),
        dead_id=dead_id(stage, identity or f"{topic}/{partition}/{offset}"),
    )


def spool_dead_letter(
    event: RawEvent | EnrichedEvent, exc: BaseException, stage: str
) -> DeadLetter:
    """The dead letter of an event of the embedded runtime (replayed through the spool)."""
    return dead_letter(
        encode_record(event),
        reason_of(exc),
        stage,
        topic=SPOOL_TOPIC,
        record_type="raw-event" if isinstance(event, RawEvent) else "enriched-event",
        project_id=event.project_id,
        identity=event.event_id,
    )


def project_of_key(key: bytes | None) -> str:
    """The project of a ``project\\0visitor`` record key ('' when it is not one)."""
    if not key or b"\0" not in key:
        return ""
    return key.split(b"\0", 1)[0].decode("utf-8", "replace")
