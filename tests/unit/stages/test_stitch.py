from pipeline.stages.stitch import stitch
from tests.factories import BASE_MS, MINUTE_MS, enriched


def test_identify_links_visitor_and_later_events_carry_the_user():
    state, result = stitch(None, enriched(timestamp=BASE_MS, path="/", utm_source="ads"))
    assert result.links == [] and result.user_updates == []
    identify = enriched(
        type="identify", user_id="u1", timestamp=BASE_MS + MINUTE_MS, traits={"plan": "pro"}
    )
    state, result = stitch(state, identify)
    assert [(k.visitor_id, k.user_id) for k in result.links] == [("vis_1", "u1")]
    [update] = result.user_updates
    assert update.traits == {"plan": "pro"}
    assert update.first_touch.utm_source == "ads"
    assert update.first_touch.landing_path == "/"
    later = enriched(timestamp=BASE_MS + 2 * MINUTE_MS)
    state, result = stitch(state, later)
    assert later.user_id == "u1"
    assert result.links == []


def test_first_link_wins_for_a_visitor_identified_as_two_users():
    state, _ = stitch(None, enriched(type="identify", user_id="u1"))
    other = enriched(type="identify", user_id="u2", timestamp=BASE_MS + 1)
    state, result = stitch(state, other)
    assert result.conflict and result.links == []
    assert state.user_id == "u1"
    assert other.user_id == "u2"  # the event keeps the user it names


def test_server_side_event_without_visitor_is_not_linked():
    state, result = stitch(None, enriched(visitor_id="", user_id="u9"))
    assert result.links == []
    assert result.user_updates[0].user_id == "u9"
    assert state.user_id == ""


def test_one_user_many_visitors():
    _, first = stitch(None, enriched(visitor_id="phone", user_id="u1", type="identify"))
    _, second = stitch(None, enriched(visitor_id="laptop", user_id="u1", type="identify"))
    assert {k.visitor_id for k in first.links + second.links} == {"phone", "laptop"}


def test_only_events_that_change_the_identity_say_so():
    """The embedded runtime writes a visitor's identity at a checkpoint only when it changed."""
    state, first = stitch(None, enriched(timestamp=BASE_MS, path="/"))
    _, later = stitch(state, enriched(timestamp=BASE_MS + MINUTE_MS, path="/b"))
    _, earlier = stitch(state, enriched(timestamp=BASE_MS - MINUTE_MS, path="/a"))
    _, linked = stitch(state, enriched(type="identify", user_id="u1", timestamp=BASE_MS + 2))
    _, again = stitch(state, enriched(type="identify", user_id="u1", timestamp=BASE_MS + 3))
    assert first.state_changed and earlier.state_changed and linked.state_changed
    assert not later.state_changed and not again.state_changed


def test_an_identify_without_traits_keeps_the_users_traits():
    """Issue 18 (AscendKit: a login without traits must not wipe the user's traits): an
    identify with empty traits updates last seen only; the latest traits stay."""
    state, result = stitch(None, enriched(type="identify", user_id="u1", traits={"plan": "pro"}))
    assert result.user_updates[0].traits == {"plan": "pro"}
    login = enriched(type="identify", user_id="u1", timestamp=BASE_MS + MINUTE_MS, traits={})
    state, result = stitch(state, login)
    [update] = result.user_updates
    assert update.traits is None  # (None: no change to the traits)
    assert update.seen_at == BASE_MS + MINUTE_MS


def test_a_user_id_equal_to_the_visitor_id_is_provisional():
    """PostHog's server-side distinct_id: its own user until a merge links the id elsewhere;
    it never takes the visitor's first link."""
    state, result = stitch(None, enriched(visitor_id="anon", user_id="anon"))
    assert result.links == [] and state.user_id == ""
    assert [u.user_id for u in result.user_updates] == ["anon"]
    merge = enriched(visitor_id="anon", user_id="usr", type="identify", timestamp=BASE_MS + 1)
    state, result = stitch(state, merge)
    assert [(k.visitor_id, k.user_id) for k in result.links] == [("anon", "usr")]
    later = enriched(visitor_id="anon", user_id="anon", timestamp=BASE_MS + 2)
    state, result = stitch(state, later)
    assert (later.user_id, result.links, result.conflict) == ("usr", [], False)
