"""Property-based tests (hypothesis) of the pure stages: invariants over generated inputs."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.enrichment.geo import GeoResolver
from pipeline.enrichment.pages import parse_page
from pipeline.enrichment.useragent import UserAgentParser
from pipeline.stages.chain import process_event
from tests.factories import BASE_MS, MINUTE_MS, enriched

TIMEOUT_MS = 30 * MINUTE_MS
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

# (event number, minutes after the base time); repeated numbers are re-deliveries
deliveries = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 6 * 60)), min_size=1, max_size=60
)


@FAST
@given(deliveries)
def test_sessions_hold_their_events_and_duplicates_count_once(stream):
    sessions_state = identity_state = None
    first_minute: dict[int, int] = {}
    members: dict[str, list[int]] = {}
    for number, minute in stream:
        minute = first_minute.setdefault(number, minute)  # a re-delivery carries the same time
        event = enriched(event_id=f"e-{number}", timestamp=BASE_MS + minute * MINUTE_MS)
        outcome = process_event(event, sessions_state, identity_state, TIMEOUT_MS)
        sessions_state, identity_state = outcome.sessions_state, outcome.identity_state
        if outcome.event is None:  # only a re-delivery is dropped
            assert sum(n == number for n, _ in stream) > 1
            continue
        session = outcome.session
        assert session is not None and event.session_id == session.session_id
        assert session.start <= event.timestamp <= session.end
        members.setdefault(session.session_id, []).append(event.timestamp)
    assert sum(len(times) for times in members.values()) == len(first_minute)
    for times in members.values():  # no gap inside a session is longer than the timeout
        times.sort()
        assert all(b - a <= TIMEOUT_MS for a, b in itertools.pairwise(times))


@FAST
@given(
    st.lists(st.sampled_from(["vis_a", "vis_b"]), min_size=1, max_size=20),
    st.integers(0, 19),
    st.sampled_from(["user_1", "user_2"]),
)
def test_once_linked_every_later_event_of_the_visitor_carries_the_user(visitors, at, user):
    states: dict[str, tuple] = {}
    linked: dict[str, str] = {}
    for index, visitor in enumerate(visitors):
        fields = {"visitor_id": visitor, "timestamp": BASE_MS + index * 1000}
        if index == at:
            fields |= {"type": "identify", "user_id": user}
        event = enriched(**fields)
        sessions_state, identity_state = states.get(visitor, (None, None))
        outcome = process_event(event, sessions_state, identity_state, TIMEOUT_MS)
        states[visitor] = (outcome.sessions_state, outcome.identity_state)
        if index == at:
            linked[visitor] = user
        assert event.user_id == linked.get(visitor, "")


text = st.text(max_size=300)
_geo = GeoResolver()
_user_agents = UserAgentParser()


@FAST
@given(url=text, referrer=text)
def test_page_parsing_never_fails_on_any_text(url, referrer):
    page = parse_page(url, referrer)
    assert isinstance(page.path, str) and isinstance(page.utm_source, str)


@FAST
@given(user_agent=text)
def test_user_agent_parsing_never_fails_on_any_text(user_agent):
    device = _user_agents.parse(user_agent)
    assert device.device_type in {"desktop", "mobile", "tablet", "bot", "other"}


@FAST
@given(ip=st.one_of(text, st.ip_addresses().map(str)))
def test_geo_lookup_never_fails_on_any_text(ip):
    geo = _geo.lookup(ip)
    assert isinstance(geo.country, str) and len(geo.country) in (0, 2)
