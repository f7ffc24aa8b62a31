from datetime import UTC, datetime

import msgspec

from pipeline.stages.normalize import RequestInfo, event_id_for, normalize, to_epoch_ms
from schemas.events import NativeEvent

NOW = 1_767_225_600_000
REQUEST = RequestInfo("prj_1", NOW, user_agent="UA/1.0", client_ip="81.2.69.142")


def test_defaults_come_from_the_request():
    raw = normalize(NativeEvent(type="page", visitor_id="v"), REQUEST, 3_600_000)
    assert raw.event == "pageview"
    assert raw.timestamp == NOW
    assert raw.user_agent == "UA/1.0"
    assert raw.ip == "81.2.69.142"


def test_context_overrides_request_user_agent_and_ip():
    event = msgspec.convert(
        dict(
            event="x",
            visitor_id="v",
            context={
                "user_agent": "Other/2",
                "ip": "8.8.8.8",
                "screen": {"width": 390, "height": 844},
                "page": {"url": "https://a.test/x", "referrer": "https://b.test/", "title": "X"},
            },
        ),
        NativeEvent,
    )
    raw = normalize(event, REQUEST, 3_600_000)
    assert (raw.user_agent, raw.ip, raw.screen) == ("Other/2", "8.8.8.8", "390x844")
    assert (raw.url, raw.referrer, raw.title) == ("https://a.test/x", "https://b.test/", "X")


def test_timestamps_iso_naive_epoch_and_far_future_clamped():
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    assert to_epoch_ms(aware, NOW, 1000) == NOW
    assert to_epoch_ms(datetime(2026, 1, 1), NOW, 1000) == NOW
    assert to_epoch_ms(NOW - 5, NOW, 1000) == NOW - 5
    assert to_epoch_ms(NOW + 10_000_000, NOW, 1000) == NOW


def test_message_id_gives_a_deterministic_event_id_per_project():
    assert event_id_for("p", "m1") == event_id_for("p", "m1")
    assert event_id_for("p", "m1") != event_id_for("q", "m1")
    assert event_id_for("p", None) != event_id_for("p", None)


def test_fast_uuid5_matches_the_standard_library():
    import uuid

    from pipeline.stages.normalize import EVENT_ID_NAMESPACE, fast_uuid5

    for name in ("", "a", "prj\x00message-1", "ü" * 40):
        assert fast_uuid5(EVENT_ID_NAMESPACE, name) == str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def test_revenue_on_the_analytics_channel_fills_the_typed_columns():
    from pipeline.stages.normalize import RequestInfo, normalize
    from schemas.events import NativeEvent

    info = RequestInfo("prj_1", 1_767_225_600_000)
    props = {"amount": 99.99, "currency": "USD", "orderId": "o_1", "productId": "p_1", "x": 1}
    raw = normalize(NativeEvent(event="revenue", channel="__analytics", user_id="u",
                                properties=props), info, 0)  # fmt: skip
    assert (raw.revenue_amount, raw.revenue_currency, raw.order_id, raw.product_id) == (
        99.99, "USD", "o_1", "p_1",
    )  # fmt: skip
    other = normalize(NativeEvent(event="e", channel="shop", user_id="u", properties=props),
                      info, 0)  # fmt: skip
    assert (other.revenue_amount, other.order_id) == (None, "")
    typed = normalize(NativeEvent(event="e", user_id="u", revenue_amount=5, session_id="s1",
                                  duration_ms=10), info, 0)  # fmt: skip
    assert (typed.revenue_amount, typed.session_id, typed.duration_ms) == (5, "s1", 10)


def test_every_field_lands_under_its_own_name():
    """normalize builds RawEvent positionally: each distinct input must come out by name."""
    event = msgspec.convert(
        {
            "type": "track",
            "event": "signup",
            "channel": "web",
            "visitor_id": "vis",
            "user_id": "usr",
            "timestamp": NOW - 1,
            "message_id": "msg",
            "properties": {"plan": "pro"},
            "traits": {"t": 1},
            "icon": "🎉",
            "notify": True,
            "description": "desc",
            "session_id": "ses",
            "revenue_amount": 9.5,
            "revenue_currency": "EUR",
            "order_id": "ord",
            "product_id": "prod",
            "duration_ms": 42,
            "context": {
                "page": {"url": "https://a.test/p", "referrer": "https://r.test/", "title": "T"},
                "locale": "de-DE",
                "screen": "1x2",
                "user_agent": "UA/9",
                "ip": "8.8.4.4",
            },
        },
        NativeEvent,
    )
    raw = normalize(event, REQUEST, 3_600_000)
    assert msgspec.structs.asdict(raw) == {
        "event_id": event_id_for("prj_1", "msg"),
        "project_id": "prj_1",
        "type": "track",
        "event": "signup",
        "timestamp": NOW - 1,
        "received_at": NOW,
        "channel": "web",
        "visitor_id": "vis",
        "user_id": "usr",
        "message_id": "msg",
        "properties": {"plan": "pro"},
        "traits": {"t": 1},
        "icon": "🎉",
        "notify": True,
        "description": "desc",
        "url": "https://a.test/p",
        "referrer": "https://r.test/",
        "title": "T",
        "locale": "de-DE",
        "screen": "1x2",
        "user_agent": "UA/9",
        "session_id": "ses",
        "revenue_amount": 9.5,
        "revenue_currency": "EUR",
        "order_id": "ord",
        "product_id": "prod",
        "duration_ms": 42,
        "ip": "8.8.4.4",
    }


def test_a_duration_property_fills_the_typed_duration_on_every_path():
    """Issue 18 (Kitbase ``$duration``): the property fills ``duration_ms`` at normalize, for
    the native API and the tracker's ``timeEvent`` as for ``/sdk/v1/logs``; the typed field
    wins; anything but a number >= 0 is left as a property only."""
    props = {"$duration": 45000, "items": 3}
    timed = normalize(NativeEvent(event="Checkout", user_id="u", properties=props), REQUEST, 0)
    assert timed.duration_ms == 45000
    assert timed.properties == {"$duration": 45000, "items": 3}
    fraction = normalize(NativeEvent(event="e", user_id="u", properties={"$duration": 1.5}),
                         REQUEST, 0)  # fmt: skip
    assert fraction.duration_ms == 1.5
    typed = normalize(NativeEvent(event="e", user_id="u", duration_ms=7,
                                  properties={"$duration": 9}), REQUEST, 0)  # fmt: skip
    assert typed.duration_ms == 7
    for junk in ("45", True, -1, None):
        raw = normalize(NativeEvent(event="e", user_id="u", properties={"$duration": junk}),
                        REQUEST, 0)  # fmt: skip
        assert raw.duration_ms is None, junk
    assert normalize(NativeEvent(event="e", user_id="u"), REQUEST, 0).duration_ms is None
