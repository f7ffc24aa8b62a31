"""Property-based tests (hypothesis) of the pure stages: invariants over generated inputs."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.edge.errors import ApiError
from pipeline.edge.ingest import Limits, parse_batch
from pipeline.enrichment.geo import GeoResolver
from pipeline.enrichment.pages import parse_page
from pipeline.enrichment.useragent import UserAgentParser
from pipeline.runtime.spool_records import decode_event, encode_event
from pipeline.sink import rows
from pipeline.stages.chain import process_event
from pipeline.stages.enrich import Enricher
from pipeline.stages.normalize import RequestInfo, normalize
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
_enricher = Enricher()
LIMITS = Limits(max_event_bytes=32 * 1024, max_batch_bytes=500 * 1024, max_batch_events=1000)


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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {"visitor_id": st.text(min_size=1, max_size=10)},
    optional={
        "type": st.sampled_from(["track", "page", "identify", "other"]),
        "event": st.text(max_size=30),
        "user_id": st.text(max_size=10),
        "timestamp": st.integers() | st.text(max_size=30),
        "properties": st.dictionaries(st.text(max_size=10), json_values, max_size=5),
        "traits": st.dictionaries(st.text(max_size=10), json_values, max_size=5),
        "context": st.dictionaries(
            st.sampled_from(["page", "user_agent", "ip", "screen", "locale"]), json_values
        ),
    },
)


@FAST
@given(
    st.binary(max_size=500)
    | st.lists(event_like, max_size=5).map(lambda events: json.dumps({"events": events}).encode())
)
def test_any_body_is_refused_cleanly_or_flows_through_every_stage(body):
    """No input crashes the edge; whatever it accepts survives normalize, enrich, the spool's
    encoding, sessionize/stitch and the row builder."""
    try:
        items = parse_batch(body, LIMITS)
    except ApiError as error:
        assert 400 <= error.status < 500
        return
    info = RequestInfo("prj_fuzz", BASE_MS, "UA/1", "81.2.69.142")
    for item in items:
        if item.event is None:
            assert item.error is not None and 400 <= item.error.status < 500
            continue
        event = _enricher.enrich(normalize(item.event, info, 3_600_000))
        assert decode_event(encode_event(event)) == event
        outcome = process_event(event, None, None, TIMEOUT_MS)
        assert outcome.event is event
        assert rows.event_block([event]).row_count == 1
