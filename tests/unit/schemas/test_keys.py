"""The key rule (schemas/keys.py) is the one every consumer of a visitor key uses."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.kafka.publisher import record_key
from pipeline.privacy.tombstones import subject, user_subjects
from schemas import keys
from schemas.records import EnrichedEvent, RawEvent


def raw(visitor_id: str = "", user_id: str = "") -> RawEvent:
    return RawEvent(
        event_id="e1", project_id="p1", type="track", event="x", timestamp=1, received_at=1,
        visitor_id=visitor_id, user_id=user_id,
    )


@pytest.mark.parametrize(
    ("visitor_id", "user_id", "expected"),
    [("v1", "", "v1"), ("v1", "u1", "v1"), ("", "u1", "user:u1"), ("", "", "user:")],
)
def test_the_rule(visitor_id: str, user_id: str, expected: str) -> None:
    event = raw(visitor_id, user_id)
    assert keys.visitor_key(event) == expected
    assert event.visitor_key == expected
    enriched = EnrichedEvent(**{f: getattr(event, f) for f in EnrichedEvent.__struct_fields__
                                if f in RawEvent.__struct_fields__})
    assert enriched.visitor_key == expected
    assert keys.state_key("p1", expected) == f"p1\x00{expected}".encode()
    assert keys.event_key(event) == keys.state_key("p1", expected)
    # The Kafka record key (partition of a visitor) is the state key.
    assert record_key(event) == keys.state_key("p1", expected)


def test_user_key_is_a_server_side_events_visitor_key() -> None:
    assert keys.user_key("u1") == raw(user_id="u1").visitor_key


def test_tombstone_subjects_hash_the_state_key() -> None:
    assert subject("p1", "v1") == hashlib.sha256(b"p1\x00v1").hexdigest()
    assert subject("p1", "user:u1") in user_subjects("p1", "u1", [])
