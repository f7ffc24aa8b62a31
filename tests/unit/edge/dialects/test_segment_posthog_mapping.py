"""The pure mappings of the Segment and PostHog dialects onto ``NativeEvent``."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest

from pipeline.edge.dialects import posthog, segment
from pipeline.edge.dialects.common import collisions, flatten
from pipeline.edge.errors import ApiError

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_flatten_nested_objects_lists_and_big_integers():
    props = {"a": {"b": {"c": 1}}, "tags": ["x", 2], "big": 2**70, "ok": None, "f": 1.5}
    assert flatten(props) == {
        "a.b.c": 1,
        "tags": '["x",2]',
        "big": str(2**70),
        "ok": None,
        "f": 1.5,
    }
    assert flatten({"k": 1}, "traits.") == {"traits.k": 1}


def test_flatten_keeps_the_first_of_colliding_keys_and_reports_the_others():
    dropped: list = []
    props = {"a.b": "dotted", "a": {"b": "nested", "c": [2**70]}, "x": {"y": 1}, "x.y": 2}
    assert flatten(props, dropped=dropped) == {"a.b": "dotted", "a.c": f"[{2**70}]", "x.y": 1}
    assert dropped == [("a.b", "nested", "dotted"), ("x.y", 2, 1)]
    [warning, _] = collisions(dropped, "properties", messageId="m")
    assert (warning.type, warning.details["key"]) == ("property_key_collision", "properties.a.b")
    assert warning.details["messageId"] == "m"


def test_segment_page_name_over_a_name_property_is_recorded():
    warnings: list = []
    message = {"type": "page", "anonymousId": "a", "name": "Home", "properties": {"name": "x"}}
    native = segment.to_native(message, NOW, warnings=warnings)
    assert native.properties == {"name": "Home"}
    assert [(w.type, w.details["dropped"]) for w in warnings] == [("property_key_collision", "x")]
    segment.to_native({**message, "properties": {"name": "Home"}}, NOW, warnings=warnings)
    assert len(warnings) == 1  # the same value: nothing lost


@pytest.mark.parametrize("body", [b"data=\xc3\xa9", b"data=%E9%80", b"data=!!!"])
def test_posthog_form_data_that_is_not_base64_is_400(body):
    with pytest.raises(ApiError) as caught:
        posthog.decode_payload(body, "application/x-www-form-urlencoded")
    assert caught.value.status == 400


def test_posthog_records_colliding_property_keys():
    event = {"event": "e", "distinct_id": "d", "properties": {"a.b": 1, "a": {"b": 2}}}
    native, warnings = posthog.to_native(event, NOW)
    assert native.properties == {"a.b": 1}
    assert [w.type for w in warnings] == ["property_key_collision"]


def test_segment_basic_auth_user():
    token = base64.b64encode(b"thw_key:").decode()
    assert segment.basic_auth_user(f"Basic {token}") == "thw_key"
    assert segment.basic_auth_user("Basic !!!") is None
    assert segment.basic_auth_user("Bearer thw_key") is None
    assert segment.basic_auth_user("Basic ключ") is None  # non-ASCII: ValueError, not 500


def test_segment_track_with_clock_skew_and_batch_context():
    message = {
        "type": "track",
        "userId": "u1",
        "event": "Item Purchased",
        "messageId": "m-1",
        "properties": {"name": "Mat", "revenue": 14.99, "item": {"sku": "A1"}},
        "timestamp": "2026-01-01T01:00:00Z",
        "context": {"locale": "fr-FR"},
    }
    # The client's clock is 1 h ahead: it sent the message 10 s after it happened.
    event = segment.to_native(
        message,
        NOW,
        batch_context={"locale": "en-US", "ip": "8.8.8.8", "userAgent": "UA"},
        batch_sent_at="2026-01-01T01:00:10Z",
    )
    assert event.timestamp == NOW - 10_000  # received - (sentAt - timestamp)
    assert (event.type, event.event, event.user_id, event.message_id) == (
        "track",
        "Item Purchased",
        "u1",
        "m-1",
    )
    assert event.properties == {"name": "Mat", "revenue": 14.99, "item.sku": "A1"}
    assert event.context.locale == "fr-FR"  # the message's own context wins
    assert (event.context.ip, event.context.user_agent) == ("8.8.8.8", "UA")


def test_segment_without_sent_at_keeps_the_timestamp():
    event = segment.to_native(
        {"type": "track", "anonymousId": "a", "event": "e", "timestamp": "2012-12-02T00:30:08Z"},
        NOW,
    )
    assert event.timestamp == 1_354_408_208_000


def test_segment_identify_alias_group_page_screen():
    ident = segment.to_native(
        {"type": "identify", "userId": "u", "anonymousId": "a", "traits": {"plan": {"x": 1}}}, NOW
    )
    assert (ident.type, ident.visitor_id, ident.user_id, ident.traits) == (
        "identify",
        "a",
        "u",
        {"plan": {"x": 1}},
    )
    anon = segment.to_native({"type": "identify", "anonymousId": "a", "traits": {"k": 1}}, NOW)
    assert (anon.type, anon.event, anon.traits) == ("track", "identify", {"k": 1})
    alias = segment.to_native({"type": "alias", "previousId": "old", "userId": "new"}, NOW)
    assert (alias.type, alias.event, alias.visitor_id, alias.user_id) == (
        "identify",
        "alias",
        "old",
        "new",
    )
    group = segment.to_native(
        {"type": "group", "userId": "u", "groupId": "g1", "traits": {"name": "Initech"}}, NOW
    )
    assert (group.event, group.properties) == (
        "$group",
        {"group_id": "g1", "traits.name": "Initech"},
    )
    page = segment.to_native(
        {"type": "page", "userId": "u", "name": "Home", "properties": {"url": "https://x.test/a"}},
        NOW,
    )
    assert (page.type, page.event, page.context.page.url, page.context.page.title) == (
        "page",
        None,
        "https://x.test/a",
        "Home",
    )
    screen = segment.to_native({"type": "screen", "userId": "u", "name": "Settings"}, NOW)
    assert (screen.type, screen.event, screen.context.page.title) == ("page", "screen", "Settings")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "track", "event": "x"}, "visitor_id"),
        ({"type": "track", "userId": "u"}, "event"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "nope", "userId": "u"}, "type"),
        ({"type": "track", "userId": "u", "event": "e", "timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_segment_refusals_name_the_field(message, field):
    with pytest.raises(ApiError) as caught:
        segment.to_native(message, NOW)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "distinct_id",
    ["anonymous", "Anonymous", "null", "0", "undefined", "", "  ", '"guest"', "'NaN'", "None"],
)
def test_posthog_illegal_ids(distinct_id):
    assert posthog.is_illegal_id(distinct_id)


@pytest.mark.parametrize("distinct_id", ["user-1", "nan", "NULL", "01", "anonymous1"])
def test_posthog_legal_ids(distinct_id):
    assert not posthog.is_illegal_id(distinct_id)


def test_posthog_identify_links_anon_to_user_with_traits():
    event, warnings = posthog.to_native(
        {
            "event": "$identify",
            "distinct_id": "user-1",
            "uuid": "u-1",
            "properties": {
                "$anon_distinct_id": "anon-1",
                "$set": {"email": "a@b.test"},
                "$set_once": {"first": 1, "email": "old"},
            },
        },
        NOW,
    )
    assert warnings == []
    assert (event.type, event.visitor_id, event.user_id, event.message_id) == (
        "identify",
        "anon-1",
        "user-1",
        "u-1",
    )
    assert event.traits == {"first": 1, "email": "a@b.test"}


def test_posthog_js_anonymous_state_and_identify_link_the_device():
    """posthog-js marks anonymous events ``$is_identified: false``; the anonymous events live
    under ``$device_id``, so that is what ``$identify`` links (bootstrapped ids differ)."""
    props = {"$device_id": "dev", "$is_identified": False, "$process_person_profile": True}
    event, _ = posthog.to_native({"event": "e", "distinct_id": "boot", "properties": props}, NOW)
    assert (event.visitor_id, event.user_id) == ("dev", None)
    props = {"$device_id": "dev", "$anon_distinct_id": "boot", "$is_identified": True}
    event, _ = posthog.to_native(
        {"event": "$identify", "distinct_id": "usr", "properties": props}, NOW
    )
    assert (event.type, event.visitor_id, event.user_id) == ("identify", "dev", "usr")


def test_posthog_identify_with_illegal_ids_does_not_merge():
    event, [warning] = posthog.to_native(
        {"event": "$identify", "distinct_id": "user-1", "properties": {"$anon_distinct_id": "0"}},
        NOW,
    )
    assert (event.type, event.visitor_id, event.user_id) == ("identify", None, "user-1")
    assert warning.type == "cannot_merge_with_illegal_distinct_id"
    assert warning.details["illegalDistinctId"] == "0"
    event, [warning] = posthog.to_native(
        {"event": "$identify", "distinct_id": "null", "properties": {"$anon_distinct_id": "a"}},
        NOW,
    )
    assert (event.type, event.visitor_id, event.user_id) == ("track", "a", None)
    assert warning.details == {"illegalDistinctId": "null", "otherDistinctId": "a", "eventUuid": ""}


def test_posthog_pageview_context_and_anonymous_events():
    event, _ = posthog.to_native(
        {
            "event": "$pageview",
            "distinct_id": "dev-1",
            "properties": {
                "$current_url": "https://x.test/p?utm_source=n",
                "$referrer": "$direct",
                "$device_id": "dev-1",
                "$session_id": "s-1",
                "$ip": "8.8.8.8",
                "token": "t",
                "list": [1],
            },
        },
        NOW,
    )
    assert (event.type, event.event, event.visitor_id, event.user_id) == (
        "page",
        "$pageview",
        "dev-1",
        None,
    )
    assert event.context.page.url == "https://x.test/p?utm_source=n"
    assert event.context.page.referrer is None
    assert event.context.ip == "8.8.8.8"
    assert "$ip" not in event.properties and "token" not in event.properties
    assert event.properties["$session_id"] == "s-1" and event.properties["list"] == "[1]"
    personless, _ = posthog.to_native(
        {"event": "e", "distinct_id": "x", "properties": {"$process_person_profile": False}}, NOW
    )
    assert (personless.visitor_id, personless.user_id) == ("x", None)
    # a server's distinct_id: its own provisional person (user id == visitor id) until merged
    server_side, _ = posthog.to_native({"event": "e", "distinct_id": "x"}, NOW)
    assert (server_side.visitor_id, server_side.user_id) == ("x", "x")


def test_posthog_alias_and_set():
    alias, _ = posthog.to_native(
        {"event": "$create_alias", "distinct_id": "old", "properties": {"alias": "new"}}, NOW
    )
    assert (alias.type, alias.visitor_id, alias.user_id) == ("identify", "old", "new")
    person, _ = posthog.to_native({"event": "$set", "distinct_id": "u", "$set": {"k": 1}}, NOW)
    assert (person.type, person.user_id, person.traits) == ("identify", "u", {"k": 1})
    assert person.visitor_id == "u"  # provisional: it reads as the merged person later
    browser = {"event": "$set", "distinct_id": "u", "properties": {"$device_id": "dev"}}
    person, _ = posthog.to_native(browser, NOW)
    assert (person.visitor_id, person.user_id) == (None, "u")  # links nothing


def test_posthog_time_offset_and_skew():
    event, _ = posthog.to_native({"event": "e", "distinct_id": "x", "offset": 500}, NOW)
    assert event.timestamp == NOW - 500
    event, _ = posthog.to_native(
        {"event": "e", "distinct_id": "x", "timestamp": "2026-01-01T05:00:00Z"},
        NOW,
        sent_at="2026-01-01T05:00:02Z",
    )
    assert event.timestamp == NOW - 2000


def test_posthog_bodies_plain_gzip_and_base64_form():
    doc = {"api_key": "k", "event": "e", "distinct_id": "d"}
    raw = orjson.dumps(doc)
    assert posthog.decode_payload(raw, "application/json") == doc
    # gzip is told by its magic bytes: current posthog-js sends it as text/plain, no hint
    assert posthog.decode_payload(gzip.compress(raw), "text/plain") == doc
    assert posthog.decode_payload(gzip.compress(raw), "") == doc
    form = b"data=" + base64.b64encode(raw).rstrip(b"=")
    assert posthog.decode_payload(form, "application/x-www-form-urlencoded") == doc
    with pytest.raises(ApiError) as caught:
        posthog.decode_payload(gzip.compress(raw)[:-6], "text/plain")  # truncated
    assert (caught.value.status, caught.value.error) == (400, "invalid_body")
    with pytest.raises(ApiError) as caught:
        posthog.decode_payload(b"{nope", "application/json")
    assert (caught.value.status, caught.value.error) == (400, "invalid_payload")


def test_posthog_payload_shapes_and_token():
    events, envelope = posthog.split_payload({"api_key": "k", "batch": [{"event": "e"}]})
    assert (events, posthog.token_of(events, envelope)) == ([{"event": "e"}], "k")
    events, envelope = posthog.split_payload([{"event": "e", "properties": {"token": "t"}}])
    assert posthog.token_of(events, envelope) == "t"


@pytest.mark.parametrize(
    ("event", "field"),
    [({"distinct_id": "d"}, "event"), ({"event": "e"}, "distinct_id"), ([1], None)],
)
def test_posthog_refusals(event, field):
    with pytest.raises(ApiError) as caught:
        posthog.to_native(event, NOW)
    assert (caught.value.status, caught.value.field) == (400, field)
