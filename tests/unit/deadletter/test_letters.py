"""Dead letters keep what failed, where and why — never the IP."""

from __future__ import annotations

import base64

import orjson

from pipeline.deadletter.letters import dead_letter, project_of_key, scrub
from pipeline.runtime.spool_records import (
    decode_spool_record,
    encode_dead_letter,
    encode_event,
    enrich_or_dead_letter,
)
from pipeline.sink import rows
from schemas.records import DeadLetter, EnrichedEvent, RawEvent, encode_record


def raw_event(**fields) -> RawEvent:
    base = dict(
        event_id="e1",
        project_id="prj_a",
        type="track",
        event="buy",
        visitor_id="vis_1",
        timestamp=1_700_000_000_000,
        received_at=1_700_000_000_000,
        ip="81.2.69.142",
    )
    return RawEvent(**(base | fields))


def test_json_records_lose_every_ip_key_and_keep_the_rest():
    data = orjson.dumps({"ip": "81.2.69.142", "event": "x", "context": {"ip": "8.8.8.8", "a": 1}})
    text, encoding = scrub(data)
    assert encoding == "text"
    assert orjson.loads(text) == {"event": "x", "context": {"a": 1}}


def test_other_text_has_ip_looking_parts_masked_and_binary_is_base64():
    text, _ = scrub(b"{broken from 81.2.69.142 and 2001:db8::1, version 1.2.3")
    assert "81.2.69.142" not in text and "2001:db8::1" not in text and "version 1.2.3" in text
    assert scrub(b"\xff\x00") == (base64.b64encode(b"\xff\x00").decode(), "base64")


def test_project_of_key():
    assert project_of_key(b"prj_a\0vis_1") == "prj_a"
    assert project_of_key(b"novisitor") == project_of_key(None) == ""


class BrokenEnricher:
    def enrich(self, raw: RawEvent) -> EnrichedEvent:
        raise RuntimeError("geo database unreadable")


def test_an_event_the_edge_cannot_enrich_is_spooled_as_a_dead_letter_without_its_ip():
    payload = enrich_or_dead_letter(BrokenEnricher(), raw_event())  # type: ignore[arg-type]
    letter = decode_spool_record(payload)
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.topic, letter.record_type) == ("enrich", "spool", "raw-event")
    assert letter.project_id == "prj_a" and "geo database unreadable" in letter.reason
    assert "81.2.69.142" not in letter.record
    assert orjson.loads(letter.record)["event_id"] == "e1"


def test_spool_records_decode_as_events_or_dead_letters():
    event = EnrichedEvent(
        event_id="e2",
        project_id="p",
        type="track",
        event="x",
        visitor_id="v",
        timestamp=1,
        received_at=1,
    )
    assert decode_spool_record(encode_event(event)) == event
    letter = dead_letter(b"{}", "r", "enrich", topic="spool", identity="e2")
    assert decode_spool_record(encode_dead_letter(letter)) == letter
    garbage = decode_spool_record(b"\x93\x01")  # MessagePack, but not an event
    assert isinstance(garbage, DeadLetter) and garbage.stage == "decode"
    assert garbage.dead_id == decode_spool_record(b"\x93\x01").dead_id


def test_dead_letter_rows_and_their_replay_marks():
    letter = dead_letter(encode_record(raw_event()), "r", "enrich", topic="spool", identity="e1")
    block = rows.dead_letter_block([letter])
    row = dict(zip(block.column_names, (c[0] for c in block.columns), strict=True))
    assert row["replayed_at"] is None and row["version"] == letter.failed_at
    replayed = rows.dead_letter_block([letter], replayed_at=letter.failed_at + 5)
    mark = dict(zip(replayed.column_names, (c[0] for c in replayed.columns), strict=True))
    assert mark["dead_id"] == row["dead_id"] and mark["version"] == letter.failed_at + 5
