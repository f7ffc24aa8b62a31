"""Records that flow between the stages (and, in Kafka mode, on the topics).

``RawEvent`` is what the edge accepted (the only record that may carry an IP);
``EnrichedEvent`` is what enrichment makes of it: the IP is gone, geo/device/page columns are
filled; sessionize and stitch fill ``session_id`` and ``user_id``.
Times are epoch milliseconds (UTC). Records are msgspec Structs: built, encoded and decoded in
C (``encode_record`` / ``decode_record``), several times faster than dataclasses here.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from schemas import keys

T = TypeVar("T")


class EventCore(msgspec.Struct):
    """What every event record carries, before and after enrichment."""

    event_id: str
    project_id: str
    type: str
    event: str
    timestamp: int
    received_at: int
    channel: str = ""
    visitor_id: str = ""
    user_id: str = ""
    message_id: str = ""
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    icon: str = ""
    notify: bool = False
    description: str = ""
    url: str = ""
    referrer: str = ""
    title: str = ""
    locale: str = ""
    screen: str = ""
    user_agent: str = ""
    # A client-kept session id (privacy-dashboard dialect); sessionize fills it otherwise.
    session_id: str = ""
    # Typed revenue and duration (Kitbase dialect's trackRevenue and ``$duration``).
    revenue_amount: float | None = None
    revenue_currency: str = ""
    order_id: str = ""
    product_id: str = ""
    duration_ms: float | None = None

    # The key state is kept under: the visitor, or the user for server-side events
    # (``schemas.keys``; a property of the rule's own function, no extra call per event).
    visitor_key = property(keys.visitor_key)


class RawEvent(EventCore):
    """What the edge accepted: ``ip`` is the end user's address, used for geo and dropped."""

    ip: str = ""


class EnrichedEvent(EventCore):
    """After enrichment (no IP); ``session_id`` and ``user_id`` are filled by stages 3-4."""

    # page
    path: str = ""
    referrer_domain: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    # device
    browser: str = ""
    browser_version: str = ""
    os: str = ""
    os_version: str = ""
    device_type: str = ""
    device_brand: str = ""
    device_model: str = ""
    is_bot: bool = False
    # geo
    country: str = ""
    region: str = ""
    city: str = ""


class FirstTouch(msgspec.Struct):
    """How a visitor first arrived: promoted to the user it is identified as."""

    at: int
    landing_path: str = ""
    referrer: str = ""
    referrer_domain: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""


class IdentityLink(msgspec.Struct):
    """Visitor -> user, as the ``identities`` table (and topic) holds it."""

    project_id: str
    visitor_id: str
    user_id: str
    linked_at: int


class UserUpdate(msgspec.Struct):
    """A change to a user's record: seen at a time, maybe new traits, maybe a first touch."""

    project_id: str
    user_id: str
    seen_at: int
    traits: dict[str, Any] | None = None
    first_touch: FirstTouch | None = None


class DeadLetter(msgspec.Struct):
    """A record a stage could not process: on ``events.dead`` (Kafka mode, same key as the
    original) and in the ``dead_letters`` table (both runtimes). ``record`` is the original
    record as text (base64 when it was not UTF-8) with any IP removed; ``topic`` is where a
    replay sends it (``spool`` for the embedded runtime)."""

    record: str
    reason: str
    stage: str  # "decode" | "enrich" | "sessionize" | "sink"
    topic: str
    partition: int
    offset: int
    encoding: str = "text"  # "text" | "base64"
    record_type: str = ""  # "raw-event" | "enriched-event" | "" (not decodable)
    project_id: str = ""
    failed_at: int = 0  # epoch ms
    dead_id: str = ""  # UUID, deterministic: re-deliveries of one failure collapse


_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder] = {}


def encode_record(record: Any) -> bytes:
    """JSON bytes of a record (or of any structure of records, dataclasses and builtins)."""
    return _encoder.encode(record)


def decode_record(data: bytes, record_type: type[T]) -> T:
    """A record of ``record_type`` from JSON bytes; raises ``msgspec.ValidationError`` when the
    bytes do not match the record's schema."""
    decoder = _decoders.get(record_type)
    if decoder is None:
        decoder = _decoders[record_type] = msgspec.json.Decoder(record_type)
    return decoder.decode(data)
