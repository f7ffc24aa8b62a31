"""The dialects' pure mappings onto the native event (schemas/dialects.md)."""

from __future__ import annotations

import pytest

from pipeline.edge.dialects import ascendkit, kitbase, privacy_dashboard
from pipeline.edge.errors import ApiError
from pipeline.registry.websites import Website, is_tracking_code, new_tracking_code
from pipeline.stages.normalize import RequestInfo, normalize

SITE = Website("web_1", "pm-abc123-1704067200000", "prj_1", "My Website", "example.com", "", 0)


def raises(call, *args) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


# --- Kitbase --------------------------------------------------------------------------------


def test_kitbase_nested_and_flat_forms_map_alike():
    nested = kitbase.to_native(
        {"event": "Purchase Completed",
         "properties": {"channel": "payments", "tags": {"amount": 99.99}, "user_id": "u1"}}
    )  # fmt: skip
    flat = kitbase.to_native(
        {"channel": "payments", "event": "Purchase Completed", "tags": {"amount": 99.99},
         "user_id": "u1"}
    )  # fmt: skip
    assert nested == flat
    assert (flat.event, flat.channel, flat.user_id, flat.properties) == (
        "Purchase Completed",
        "payments",
        "u1",
        {"amount": 99.99},
    )
    assert flat.revenue_amount is None  # amount in tags of another channel is just a tag


def test_kitbase_revenue_and_duration_become_typed_columns():
    revenue = kitbase.to_native(
        {"amount": 99.99, "currency": "USD", "orderId": "order_123",
         "productId": "prod_premium", "tags": {"plan": "premium"}}, "kb_x"
    )  # fmt: skip
    assert (revenue.channel, revenue.event) == ("__analytics", "revenue")
    assert revenue.visitor_id == "kb_x"
    assert (revenue.revenue_amount, revenue.revenue_currency) == (99.99, "USD")
    assert (revenue.order_id, revenue.product_id) == ("order_123", "prod_premium")
    assert revenue.properties == {"plan": "premium"}
    in_tags = kitbase.to_native(
        {"channel": "__analytics", "event": "sale", "tags": {"amount": 5, "currency": "EUR"}},
        "kb_x",
    )
    assert (in_tags.revenue_amount, in_tags.revenue_currency) == (5.0, "EUR")
    timed = kitbase.to_native(
        {"channel": "c", "event": "Checkout Flow", "tags": {"$duration": 45000}}, "kb_x"
    )
    assert timed.properties == {"$duration": 45000}  # (normalize fills the typed column)
    raw = normalize(timed, RequestInfo("prj_1", 1_767_225_600_000), 0)
    assert raw.duration_ms == 45000 and raw.channel == "c"


@pytest.mark.parametrize(
    ("document", "status", "field"),
    [
        ({"event": "X", "properties": {"channel": "c", "tags": {"a": {"b": 1}}}}, 422,
         "properties.tags.a"),
        ({"channel": "c", "event": "X", "tags": {"a": None}}, 422, "tags.a"),
        ({"channel": "c", "event": "X", "tags": {"$duration": "long"}}, 422, "tags.$duration"),
        ({"channel": "c"}, 400, "event"),
        ({"event": "X"}, 400, "channel"),
        ({"event": "X", "properties": {"channel": "c", "colour": "red"}}, 422,
         "properties.colour"),
        ({"amount": "ten"}, 422, "amount"),
        ({"channel": "c", "event": "X", "notify": "yes"}, 422, "notify"),
        ({"channel": "c" * 201, "event": "X"}, 422, "channel"),
    ],
)  # fmt: skip
def test_kitbase_errors_name_the_field_as_sent(document, status, field):
    error = raises(kitbase.to_native, document, "kb_x")
    assert (error.status, error.field) == (status, field)
    assert error.message.startswith(field)


def test_kitbase_reads_alias_the_enrichment():
    assert kitbase.read_params({"__browser": "Chrome", "__device": "mobile", "limit": "5"}) == {
        "browser": "Chrome",
        "device_type": "mobile",
        "limit": "5",
    }
    assert raises(kitbase.read_params, {"__colour": "red"}).field == "__colour"
    # bots are in every read unless filtered, by the enrichment name or the native one
    assert kitbase.read_params({"__is_bot": "true"}) == {"is_bot": "true"}
    assert kitbase.read_params({"is_bot": "false"}) == {"is_bot": "false"}
    row = {name: "" for name in kitbase.ENRICHED_NAMES.values()} | {
        "id": "e1", "event": "X", "channel": "c", "user_id": "", "visitor_id": "kb_1",
        "icon": "", "notify": False, "description": "", "properties": {"a": 1},
        "timestamp": "t", "browser": "Chrome", "revenue_amount": 1.5, "revenue_currency": "USD",
        "order_id": "o", "product_id": "", "duration_ms": None,
    }  # fmt: skip
    log = kitbase.log_to_json(row)
    assert (log["__browser"], log["tags"], log["user_id"]) == ("Chrome", {"a": 1}, None)
    assert log["revenue"] == {"amount": 1.5, "currency": "USD", "orderId": "o", "productId": None}
    assert "duration" not in log


def test_kitbase_anonymous_visitor_is_a_keyed_daily_hash_that_hides_the_ip():
    info = RequestInfo("prj_1", 1_767_225_600_000, "UA", "81.2.69.142")
    visitor = kitbase.anonymous_visitor(info, b"key")
    assert visitor == kitbase.anonymous_visitor(info, b"key") and visitor.startswith("kb_")
    assert "81.2" not in visitor
    other_project = RequestInfo("prj_2", info.received_at, "UA", "81.2.69.142")
    next_day = RequestInfo("prj_1", info.received_at + 86_400_000, "UA", "81.2.69.142")
    same_day = RequestInfo("prj_1", info.received_at + 3_600_000, "UA", "81.2.69.142")
    assert visitor != kitbase.anonymous_visitor(other_project, b"key")
    assert visitor != kitbase.anonymous_visitor(next_day, b"key")
    assert visitor == kitbase.anonymous_visitor(same_day, b"key")
    assert visitor != kitbase.anonymous_visitor(info, b"another key")  # not an unkeyed hash


# --- Privacy dashboard ----------------------------------------------------------------------

EXAMPLE = {
    "trackingCode": "pm-abc123-1704067200000",
    "eventType": "pageview",
    "url": "https://example.com/blog/article",
    "referrer": "https://google.com",
    "sessionId": "sess-user-123-session-456",
    "visitorId": "vis-user-unique-id-789",
    "deviceType": "desktop",
    "browser": "Chrome",
    "os": "Windows",
    "location": "US",
    "timestamp": 1704067200000,
    "properties": {"articleId": "art-123", "readingTime": 5},
}


def test_privacy_dashboard_example_event_maps_onto_the_native_event():
    native = privacy_dashboard.to_native(privacy_dashboard.validate(EXAMPLE), SITE)
    assert (native.type, native.event, native.channel) == ("page", "pageview", "web_1")
    assert (native.session_id, native.visitor_id) == (
        "sess-user-123-session-456",
        "vis-user-unique-id-789",
    )
    assert native.context.page.url == EXAMPLE["url"]
    assert native.context.page.referrer == "https://google.com"
    assert native.properties == {
        "articleId": "art-123", "readingTime": 5, "$device_type": "desktop",
        "$browser": "Chrome", "$os": "Windows", "$location": "US",
    }  # fmt: skip
    raw = normalize(native, RequestInfo("prj_1", 1_767_225_600_000), 0)
    assert (raw.session_id, raw.timestamp) == ("sess-user-123-session-456", 1704067200000)


def test_privacy_dashboard_validation_is_zod_like():
    with pytest.raises(privacy_dashboard.Invalid) as caught:
        privacy_dashboard.validate(
            {"trackingCode": "abc", "eventType": "hover", "url": "nope", "sessionId": "",
             "deviceType": "watch", "extra": 1, "properties": {"deep": {"x": 1}}}
        )  # fmt: skip
    errors = caught.value.field_errors
    assert errors["trackingCode"] == ["Invalid tracking code format"]
    assert errors["visitorId"] == ["Required"]
    assert errors["url"] == ["Invalid url"]
    assert errors["eventType"][0].startswith("Invalid enum value")
    assert errors["deviceType"][0].startswith("Invalid enum value")
    assert errors["extra"] == ["Unrecognized key: 'extra'"]
    assert "properties.deep" in errors and "sessionId" in errors
    assert caught.value.body()["error"] == "VALIDATION_ERROR"


def test_privacy_dashboard_reads_prefer_declared_values_then_enrichment():
    row = {"id": "e1", "channel": "web_1", "event": "click", "url": "u", "referrer": "",
           "session_id": "s", "visitor_id": "v", "device_type": "mobile", "browser": "Safari",
           "os": "iOS", "country": "GB", "timestamp": "t",
           "properties": {"$browser": "Chrome", "buttonId": "b"}}  # fmt: skip
    event = privacy_dashboard.row_to_event(row, with_site=True)
    assert (event["browser"], event["os"], event["location"]) == ("Chrome", "iOS", "GB")
    assert event["properties"] == {"buttonId": "b"} and event["referrer"] is None
    listed = privacy_dashboard.row_to_event(row, with_site=False)
    assert "properties" not in listed and "websiteId" not in listed


def test_tracking_codes():
    code = new_tracking_code(1704067200000)
    assert is_tracking_code(code) and code.endswith("-1704067200000")
    assert not is_tracking_code("pm-abc")


# --- AscendKit ------------------------------------------------------------------------------


def test_ascendkit_visitor_event_with_browser_context():
    native = ascendkit.visitor_event(
        {"event": "cta_clicked", "visitorId": "vis_1", "properties": {"location": "hero"},
         "context": {"url": "https://a.test/", "userAgent": "UA", "locale": "en",
                     "screen": {"width": 10, "height": 20}}}
    )  # fmt: skip
    assert (native.event, native.visitor_id, native.user_id) == ("cta_clicked", "vis_1", None)
    assert native.context.user_agent == "UA" and native.context.page.url == "https://a.test/"
    page = ascendkit.visitor_event({"event": "page.viewed", "visitorId": "vis_1"})
    assert (page.type, page.event) == ("page", "pageview")
    assert raises(ascendkit.visitor_event, {"event": "x", "visitorId": "v1"}).field == "visitorId"


def test_ascendkit_server_sdk_item_links_the_visitor():
    context = {"sdk": "python", "sdkVersion": "0.2.10", "visitorId": "vis_abc123"}
    item = {"event": "app.checkout.completed", "userId": "usr_456",
            "properties": {"total": 99.99}, "timestamp": "2026-01-01T00:00:00+00:00",
            "context": context}  # fmt: skip
    native = ascendkit.user_event(item)
    assert (native.user_id, native.visitor_id, native.event) == (
        "usr_456",
        "vis_abc123",
        "app.checkout.completed",
    )
    assert native.context is None  # the SDK's own context is not the user's browser
    error = raises(ascendkit.user_event, {"event": "app.x"}, "batch[3].")
    assert (error.status, error.field) == (400, "batch[3].userId")


def test_ascendkit_built_in_lifecycle_events():
    created = ascendkit.lifecycle_events({"userId": "usr_1", "visitorId": "vis_1", "signup": True},
                                         "identify")  # fmt: skip
    assert [(e.type, e.event) for e in created] == [("identify", None), ("track", "user.created")]
    login = ascendkit.lifecycle_events({"userId": "usr_1"}, "identify")
    assert login[1].event == "user.login"
    [signout] = ascendkit.lifecycle_events({"userId": "usr_1"}, "signout")
    assert signout.event == "user.signout"
    assert raises(ascendkit.lifecycle_events, {"visitorId": "vis_1"}, "signout").field == "userId"


def test_kitbase_page_context_from_sdk_tags_else_the_referer():
    sdk = kitbase.to_native(
        {"channel": "c", "event": "e", "tags": {"__path": "/p", "__utm_source": "nl", "x": 1,
                                                 "__referrer": "https://r.test/"}},
        "kb_x", "https://ignored.test/?utm_source=no",
    )  # fmt: skip
    assert sdk.properties == {"x": 1}
    assert (sdk.context.page.url, sdk.context.page.referrer) == ("/p?utm_source=nl", "https://r.test/")
    header = kitbase.to_native({"channel": "c", "event": "e"}, "kb_x", "https://s.test/a?utm_medium=m")
    assert header.context.page.url == "https://s.test/a?utm_medium=m"
    assert kitbase.to_native({"channel": "c", "event": "e"}, "kb_x").context is None
    long = kitbase.to_native({"channel": "c", "event": "e", "tags": {"__path": "/" * 5000}}, "k")
    assert len(long.context.page.url) == 2048


def test_kitbase_read_filters_and_unknown_names():
    q = kitbase.read_query("prj_1", {"anonymous_id": "a", "notify": "true", "icon": "i"})
    assert q.parameters == {"tenant": "prj_1", "visitor_id": "a", "icon": "i", "notify": True}
    with pytest.raises(ApiError) as caught:
        kitbase.read_params({"nope": "1"})
    assert (caught.value.status, caught.value.field) == (400, "nope")


def test_ascendkit_waitlist_built_in_events():
    for kind, name in (("signout", "user.signout"), ("waitlist", "user.waitlisted"),
                       ("waitlist_approve", "user.waitlist_approved")):  # fmt: skip
        [event] = ascendkit.lifecycle_events({"userId": "usr_1", "visitorId": "vis_1"}, kind)
        assert (event.type, event.event, event.user_id, event.visitor_id) == (
            "track", name, "usr_1", "vis_1",
        )  # fmt: skip
    identify, login = ascendkit.lifecycle_events({"userId": "usr_1"}, "identify")
    assert (identify.type, identify.traits, login.event) == ("identify", {}, "user.login")
