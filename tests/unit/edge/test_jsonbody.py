"""``pipeline.edge.jsonbody``: nesting measured on the bytes, exact integers, the same 400s."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.edge.errors import ApiError
from pipeline.edge.ingest import Limits, decode_event, parse_batch, parse_single
from pipeline.edge.jsonbody import MAX_DEPTH, loads, nested_too_deep


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for level in range(depth):
        value = [value, ']}\\"['] if level % 2 else {"k": value, "s": '}]"\\'}
    return value


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("depth", [0, 1, 63, 64])
def test_up_to_the_limit_passes(depth):
    assert not nested_too_deep(orjson.dumps(nested(depth)))


@pytest.mark.parametrize("depth", [65, 100, 250])
def test_past_the_limit_is_found(depth):
    assert nested_too_deep(orjson.dumps(nested(depth)))


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000,  # never closed: a parser still enters every level
        b'["]",' * 5_000,  # brackets inside strings do not close real ones
        b'{"a":"\\\\"}' + b"[" * 70,  # an escaped backslash ends the string
        b"[" * 65 + b"]" * 65,
    ],
)
def test_hostile_texts(body):
    assert nested_too_deep(body)


def test_brackets_inside_strings_do_not_count():
    assert not nested_too_deep(orjson.dumps({"a": "{[" * 1000, "b": '\\"{{' * 100}))


TRICKY = st.text(alphabet='[]{}"\\ab')
JSON = st.recursive(
    TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=80,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_agrees_with_the_parsed_depth(value):
    for limit in (1, 2, 3, 5):
        assert nested_too_deep(orjson.dumps(value), limit) == (depth_of(value) > limit)


def test_loads_keeps_integers_exact_and_refuses_depth():
    assert loads(b'{"a": 18446744073709551617, "b": -1180591620717411303424}') == {
        "a": 2**64 + 1,
        "b": -(2**70),
    }
    with pytest.raises(ApiError) as caught:
        loads(b"[" * 100 + b"]" * 100)
    assert (caught.value.status, caught.value.error) == (400, "too_deep")


LIMITS = Limits(32 * 1024, 500 * 1024, 1000)


DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"event": "e", "visitor_id": "v", "traits": nested(MAX_DEPTH)}),
        orjson.dumps({"api_key": "k", "event": "e", "properties": nested(MAX_DEPTH)}),
    ],
)
def test_native_events_nested_too_deep_are_400(body):
    with pytest.raises(ApiError) as caught:
        parse_single(body, LIMITS)
    assert (caught.value.status, caught.value.error) == (400, "too_deep")
    [item] = parse_batch(b'{"events": [' + body + b"]}", LIMITS)
    assert item.error is not None and (item.error.status, item.error.error) == (400, "too_deep")


def test_past_msgspecs_own_recursion_limit_the_whole_request_is_400():
    for body in (DEEP, b'{"events": [' + DEEP + b"]}", b'{"events": ' + DEEP + b"}"):
        with pytest.raises(ApiError) as caught:
            (parse_batch if body.startswith(b"{") else parse_single)(body, LIMITS)
        assert (caught.value.status, caught.value.error) == (400, "too_deep")


def test_a_valid_event_is_not_measured():
    event = decode_event(orjson.dumps({"event": "e", "visitor_id": "v", "traits": nested(15)}))
    assert event.traits
