"""KISSmetrics' tracking API parameters mapped onto native events (schemas/dialects.md)."""

from __future__ import annotations

import pytest

from pipeline.edge.dialects import kissmetrics
from pipeline.edge.errors import ApiError

KEY = "api-key"


def test_record_the_documented_example():
    """``/e?_k=api-key&_p=bob&_n=Signed+Up&gender=male&_t=1262304000&_d=1``."""
    params = {"_k": KEY, "_p": "bob", "_n": "Signed Up", "gender": "male", "_t": "1262304000",
              "_d": "1"}  # fmt: skip
    [event] = kissmetrics.to_native("record", params)
    assert (event.type, event.event, event.visitor_id, event.user_id) == (
        "track",
        "Signed Up",
        "bob",
        "bob",
    )  # a person is its own (provisional) user until an alias links it to another
    assert event.properties == {"gender": "male"}  # _k, _p, _n, _t, _d are not properties
    assert event.timestamp == 1_262_304_000_000  # midnight, January 1, 2010 UTC
    assert event.message_id and event.message_id.startswith("km-")


def test_t_is_applied_only_with_d_1_and_names_lose_commas_and_colons():
    params = {"_k": KEY, "_p": "ann:x,y", "_n": "foo:bar,baz", "_t": "1262304000"}
    [event] = kissmetrics.to_native("record", params)
    assert event.timestamp is None  # the time the edge received it, as KISSmetrics does
    assert (event.event, event.visitor_id) == ("foo bar baz", "ann x y")
    [no_t] = kissmetrics.to_native("record", {"_k": KEY, "_p": "ann", "_n": "x", "_d": "1"})
    assert (no_t.timestamp, no_t.message_id) == (None, None)


def test_the_same_call_with_t_has_the_same_message_id():
    """KISSmetrics uses ``_t`` to tell repeated requests apart: a resent pixel is a duplicate."""
    params = {"_k": KEY, "_p": "bob", "_n": "Signed Up", "_t": "1262304000"}
    [one] = kissmetrics.to_native("record", params)
    [again] = kissmetrics.to_native("record", dict(reversed(params.items())))
    [other] = kissmetrics.to_native("record", {**params, "_n": "Other"})
    assert one.message_id == again.message_id != other.message_id


def test_set_is_traits_of_the_person():
    params = {"_k": KEY, "_p": "sally", "Payment Plan": "Pro", "size": "small"}
    [event] = kissmetrics.to_native("set", params)
    assert (event.type, event.event, event.visitor_id) == ("track", "set", "sally")
    assert event.traits == {"Payment Plan": "Pro", "size": "small"}
    assert event.properties == {}


def test_alias_links_both_identities_to_the_named_one():
    """``/a?_k=api-key&_p=User+12345&_n=bob%40bob.com``: the same person."""
    events = kissmetrics.to_native("alias", {"_k": KEY, "_p": "User 12345", "_n": "bob@bob.com"})
    assert [(e.type, e.event, e.visitor_id, e.user_id) for e in events] == [
        ("identify", "alias", "User 12345", "bob@bob.com"),
        ("identify", "alias", "bob@bob.com", "bob@bob.com"),
    ]
    [same] = kissmetrics.to_native("alias", {"_k": KEY, "_p": "bob", "_n": "bob"})
    assert (same.visitor_id, same.user_id) == ("bob", "bob")


@pytest.mark.parametrize(
    ("call", "params", "field"),
    [
        ("record", {"_n": "x"}, "_p"),
        ("record", {"_p": " "}, "_p"),
        ("record", {"_p": "bob"}, "_n"),
        ("alias", {"_p": "bob"}, "_n"),
        ("record", {"_p": "bob", "_n": "x", "_t": "yesterday", "_d": "1"}, "_t"),
        ("record", {"_p": "bob", "_n": "x", "_t": "1e400", "_d": "1"}, "_t"),
        ("record", {"_p": "bob", "_n": "x", "_t": "nan", "_d": "1"}, "_t"),
        ("record", {"_p": "bob", "_n": "x", "_t": "99999999999999", "_d": "1"}, "_t"),
        ("record", {"_p": "b" * 1000, "_n": "x"}, "_p"),
    ],
)
def test_what_cannot_be_stored_names_the_parameter(call, params, field):
    with pytest.raises(ApiError) as caught:
        kissmetrics.to_native(call, {"_k": KEY, **params})
    assert caught.value.field == field


def test_pixel_is_a_gif():
    assert kissmetrics.PIXEL.startswith(b"GIF89a") and len(kissmetrics.PIXEL) < 64
