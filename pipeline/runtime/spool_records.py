"""The embedded spool's records: an enriched event (MessagePack), a dead letter (tagged), or a
record an erasure blanked. The edge encodes them (``EmbeddedRuntime``), the storage process
decodes them (``Processor``), ``dead replay`` and ``users delete`` read and rewrite them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec
import structlog

from pipeline.deadletter.letters import SPOOL_TOPIC, dead_letter, reason_of, spool_dead_letter
from pipeline.privacy.tombstones import Tombstones
from pipeline.stages.enrich import Enricher
from schemas.records import DeadLetter, EnrichedEvent, RawEvent

log = structlog.get_logger(__name__)

_spool_encoder = msgspec.msgpack.Encoder()
_spool_decoder = msgspec.msgpack.Decoder(EnrichedEvent)
_dead_decoder = msgspec.msgpack.Decoder(DeadLetter)
DEAD_TAG = b"\x00"  # a MessagePack map never starts with 0x00
ERASED_TAG = b"\x01"  # a record blanked by an erasure (same length: offsets stay valid)


def encode_event(event: EnrichedEvent) -> bytes:
    """Spool record of an enriched event (MessagePack: half the decode cost of JSON)."""
    return _spool_encoder.encode(event)


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """Spool record of an event the edge could not enrich: it is accepted, and stored as a
    dead letter rather than lost."""
    return DEAD_TAG + _spool_encoder.encode(letter)


def decode_event(payload: bytes) -> EnrichedEvent:
    return _spool_decoder.decode(payload)


def decode_spool_record(payload: bytes) -> EnrichedEvent | DeadLetter | None:
    """An event, or a dead letter (one the edge wrote, or this record if it cannot be read);
    None for a record an erasure blanked."""
    try:
        tag = payload[:1]
        if tag == DEAD_TAG:
            return _dead_decoder.decode(payload[1:])
        if tag == ERASED_TAG:
            return None
        return _spool_decoder.decode(payload)
    except (msgspec.DecodeError, ValueError) as exc:
        return dead_letter(
            payload,
            reason_of(exc),
            "decode",
            topic=SPOOL_TOPIC,
            identity=hashlib.sha256(payload).hexdigest(),
        )


def enrich_or_dead_letter(enricher: Enricher, raw: RawEvent) -> bytes:
    """The spool record of ``raw``: enriched, or (if enrichment fails) a dead letter holding
    the raw event without its IP, to be replayed once the cause is fixed."""
    try:
        return encode_event(enricher.enrich(raw))
    except Exception as exc:
        log.exception("edge.enrich_failed", event_id=raw.event_id)
        return encode_dead_letter(spool_dead_letter(raw, exc, "enrich"))


def blank_erased(
    tombstones: Tombstones, needles: tuple[bytes, ...]
) -> Callable[[bytes], bytes | None]:
    """For ``Spool.redact``: a blank record (same length) in place of an event whose subject
    was erased, or of a dead letter that mentions one of ``needles`` (the quoted ids)."""

    def replace(payload: bytes) -> bytes | None:
        record = decode_spool_record(payload)
        if isinstance(record, EnrichedEvent):
            erased = tombstones.drops(
                record.project_id, record.visitor_id, record.user_id, record.received_at
            )
        else:
            erased = record is not None and any(needle in payload for needle in needles)
        return ERASED_TAG + bytes(len(payload) - 1) if erased else None

    return replace
