import orjson
import pytest

from pipeline.edge.errors import ApiError
from pipeline.edge.ingest import Limits, parse_batch, parse_single

LIMITS = Limits(max_event_bytes=32 * 1024, max_batch_bytes=500 * 1024, max_batch_events=1000)


def single(doc):
    return parse_single(orjson.dumps(doc), LIMITS)


@pytest.mark.parametrize(
    ("doc", "status", "field"),
    [
        ({"visitor_id": "v"}, 400, "event"),
        ({"event": "x"}, 400, "visitor_id"),
        ({"type": "identify", "visitor_id": "v"}, 400, "user_id"),
        ({"event": 5, "visitor_id": "v"}, 422, "event"),
        ({"event": "x", "visitor_id": "v", "properties": {"a": [1]}}, 422, "properties.a"),
        ({"event": "x", "visitor_id": "v", "notify": "yes"}, 422, "notify"),
        ({"event": "x", "visitor_id": "v", "timestamp": "yesterday"}, 422, "timestamp"),
        ({"event": "x", "visitor_id": "v", "type": "alias"}, 422, "type"),
        ({"event": "x", "visitor_id": "v", "timestamp": -5}, 422, "timestamp"),
        ({"event": "x", "visitor_id": "v", "timestamp": "1800-01-01T00:00:00Z"}, 422, "timestamp"),
        ({"event": "x", "visitor_id": "v", "colour": "red"}, 422, "colour"),
        (
            {"event": "x", "visitor_id": "v", "context": {"page": {"url": 3}}},
            422,
            "context.page.url",
        ),
        # The documented caps: 512 keys, keys of 200 characters, strings of 8,192 characters.
        ({"event": "x", "visitor_id": "v", "properties": {str(i): i for i in range(513)}},
         422, "properties"),
        ({"event": "x", "visitor_id": "v", "properties": {"s": "x" * 8193}}, 422, "properties.s"),
        ({"event": "x", "visitor_id": "v", "properties": {"k" * 201: 1}}, 422,
         "properties." + "k" * 40 + "…"),
        ({"type": "identify", "user_id": "u", "traits": {"a": {"b": "x" * 8193}}}, 422,
         "traits.a.b"),
    ],
)  # fmt: skip
def test_errors_name_the_field_with_the_documented_status(doc, status, field):
    with pytest.raises(ApiError) as caught:
        single(doc)
    assert caught.value.status == status
    assert caught.value.field == field


def test_at_the_caps_an_event_is_accepted():
    props = {f"{i:03d}": "x" * 50 for i in range(512)}
    assert len(parse_single(orjson.dumps({"event": "x", "visitor_id": "v", "properties": props}),
                            Limits(64 * 1024, 500 * 1024, 1000)).properties) == 512  # fmt: skip
    assert single({"event": "x", "visitor_id": "v", "properties": {"s": "x" * 8192}})


def test_malformed_json_is_400():
    with pytest.raises(ApiError) as caught:
        parse_single(b"{not json", LIMITS)
    assert (caught.value.status, caught.value.error) == (400, "invalid_json")


def test_oversized_event_is_413():
    doc = {
        "event": "x",
        "visitor_id": "v",
        "description": "a" * 2000,
        "properties": {f"k{i}": "v" * 100 for i in range(400)},
    }
    with pytest.raises(ApiError) as caught:
        single(doc)
    assert caught.value.status == 413


def test_valid_event_parses_with_iso_or_epoch_ms_timestamps():
    assert single({"event": "x", "visitor_id": "v", "timestamp": 1767225600000}).timestamp == (
        1767225600000
    )
    parsed = single({"event": "x", "user_id": "u", "timestamp": "2026-01-01T00:00:00Z"})
    assert parsed.timestamp.year == 2026


def test_batch_keeps_valid_events_and_reports_each_invalid_one():
    body = orjson.dumps(
        {
            "events": [
                {"event": "ok", "visitor_id": "v"},
                {"visitor_id": "v"},
                {"event": "ok2", "visitor_id": "v", "properties": {"x": {"nested": 1}}},
                "not an object",
            ]
        }
    )
    items = parse_batch(body, LIMITS)
    assert [i.event is not None for i in items] == [True, False, False, False]
    assert [(i.error.status, i.error.field) for i in items[1:]] == [
        (400, "event"),
        (422, "properties.x"),
        (400, None),
    ]


@pytest.mark.parametrize("body", [b'{"events": []}', b"{}", b'{"events": {}}'])
def test_batch_shape_errors(body):
    with pytest.raises(ApiError) as caught:
        parse_batch(body, LIMITS)
    assert caught.value.field == "events"


def test_batch_too_large_is_413():
    with pytest.raises(ApiError) as caught:
        parse_batch(b"x" * (500 * 1024 + 1), LIMITS)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b'{"event": "\xff\xfe", "visitor_id": "v"}',
        b'{"event": "x", "visitor_id": "v", "properties": {"\xc3": 1}}',
        b"\xef\xbb\xbf" + b'{"event": "x", "visitor_id": "v"}',
    ],
)
def test_invalid_utf8_or_a_byte_order_mark_is_a_400_not_a_crash(body):
    with pytest.raises(ApiError) as caught:
        parse_single(body, LIMITS)
    assert (caught.value.status, caught.value.error) == (400, "invalid_json")
    if not body.startswith(b"\xef"):  # inside a batch, only the item is refused
        items = parse_batch(b'{"events": [' + body + b"]}", LIMITS)
        assert items[0].error is not None and items[0].error.status == 400
