from pipeline.stages.sessionize import KEPT_EVENT_IDS, sessionize
from tests.factories import BASE_MS, MINUTE_MS, enriched

TIMEOUT = 30 * MINUTE_MS


def run(events, timeout=TIMEOUT):
    state, sessions = None, []
    for event in events:
        state, session = sessionize(state, event, timeout)
        sessions.append(session)
    return state, sessions


def test_events_within_timeout_share_a_session():
    events = [enriched(timestamp=BASE_MS + m * MINUTE_MS) for m in (0, 10, 39, 68)]
    _, sessions = run(events)
    assert len({e.session_id for e in events}) == 1
    assert sessions[-1].events == 4
    assert sessions[-1].duration_ms == 68 * MINUTE_MS


def test_new_session_after_thirty_minutes_of_inactivity():
    events = [enriched(timestamp=BASE_MS + m * MINUTE_MS) for m in (0, 29, 60, 61)]
    run(events)
    assert events[0].session_id == events[1].session_id
    assert events[2].session_id == events[3].session_id
    assert events[1].session_id != events[2].session_id


def test_timeout_is_configurable():
    events = [enriched(timestamp=BASE_MS + m * MINUTE_MS) for m in (0, 6)]
    run(events, timeout=5 * MINUTE_MS)
    assert events[0].session_id != events[1].session_id


def test_out_of_order_event_joins_the_session_whose_window_holds_it():
    first = enriched(timestamp=BASE_MS, type="page", path="/a")
    second = enriched(timestamp=BASE_MS + 120 * MINUTE_MS, type="page", path="/b")
    late = enriched(timestamp=BASE_MS + 10 * MINUTE_MS, type="page", path="/c")
    earlier = enriched(timestamp=BASE_MS - 5 * MINUTE_MS, type="page", path="/landing")
    _, sessions = run([first, second, late, earlier])
    assert late.session_id == first.session_id != second.session_id
    assert earlier.session_id == first.session_id
    session = sessions[-1]
    assert session.entry_path == "/landing"
    assert session.exit_path == "/c"
    assert session.start == BASE_MS - 5 * MINUTE_MS
    assert session.pageviews == 3


def test_duplicate_delivery_is_counted_once():
    event = enriched()
    state, session = sessionize(None, event, TIMEOUT)
    again = enriched(event_id=event.event_id)
    state, duplicate = sessionize(state, again, TIMEOUT)
    assert duplicate is None
    assert session.events == 1
    assert state.recent_count == 1


def test_recent_event_ids_are_bounded():
    events = [enriched(timestamp=BASE_MS + i) for i in range(KEPT_EVENT_IDS + 10)]
    state, _ = run(events)
    assert state.recent_count == KEPT_EVENT_IDS
    newest, forgotten = events[-KEPT_EVENT_IDS], events[9]
    _, again = sessionize(state, enriched(event_id=newest.event_id), TIMEOUT)
    assert again is None
    _, counted = sessionize(state, enriched(event_id=forgotten.event_id), TIMEOUT)
    assert counted is not None  # beyond the bound: counted again, as the stored list says


def test_a_restored_state_still_recognises_its_latest_events():
    import orjson

    from pipeline.stages.sessionize import VisitorSessions
    from schemas.records import decode_record, encode_record

    event = enriched()
    state, _ = sessionize(None, event, TIMEOUT)
    encoded = encode_record(state)
    assert set(orjson.loads(encoded)) == {"sessions", "recent_ids"}  # the set is not stored
    restored = decode_record(encoded, VisitorSessions)
    _, duplicate = sessionize(restored, enriched(event_id=event.event_id), TIMEOUT)
    assert duplicate is None


def test_a_state_stored_by_an_earlier_version_still_loads():
    """Before fingerprints, the state kept a list of event ids: it loads, without them."""
    from pipeline.stages.sessionize import VisitorSessions
    from schemas.records import decode_record, encode_record

    state, _ = sessionize(None, enriched(), TIMEOUT)
    old = encode_record({"sessions": state.sessions, "recent_event_ids": ["e1", "e2"]})
    restored = decode_record(old, VisitorSessions)
    assert restored.sessions == state.sessions
    assert restored.recent_count == 0


def test_session_takes_first_touch_from_its_earliest_event_and_is_deterministic():
    a = enriched(timestamp=BASE_MS, referrer_domain="google.com", utm_source="news", country="GB")
    b = enriched(timestamp=BASE_MS + MINUTE_MS, referrer_domain="bing.com")
    _, sessions = run([a, b])
    assert sessions[-1].referrer_domain == "google.com"
    assert sessions[-1].utm_source == "news"
    assert sessions[-1].country == "GB"
    assert not sessions[-1].is_bounce
    _, replayed = sessionize(None, enriched(event_id=a.event_id, timestamp=a.timestamp), TIMEOUT)
    assert replayed.session_id == sessions[0].session_id


def test_state_round_trips_through_json():
    import orjson

    from pipeline.stages.sessionize import VisitorSessions

    state, _ = run([enriched(timestamp=BASE_MS + m * MINUTE_MS) for m in (0, 90)])
    restored = VisitorSessions.from_dict(orjson.loads(orjson.dumps(state)))
    assert restored == state


def test_a_client_kept_session_id_is_kept_whatever_the_gap():
    """Privacy-dashboard events carry their own sessionId: kept as given, no 30-minute split."""
    events = [
        enriched(timestamp=BASE_MS + m * MINUTE_MS, session_id="sess-123") for m in (0, 5, 120)
    ]
    _, sessions = run(events)
    assert [e.session_id for e in events] == ["sess-123"] * 3
    assert sessions[-1].session_id == "sess-123"
    assert sessions[-1].events == 3
    assert sessions[-1].duration_ms == 120 * MINUTE_MS


def test_client_sessions_and_native_sessions_do_not_mix():
    kept = [enriched(timestamp=BASE_MS, session_id="sess-a"),
            enriched(timestamp=BASE_MS + MINUTE_MS, session_id="sess-b")]  # fmt: skip
    native = enriched(timestamp=BASE_MS + 2 * MINUTE_MS)
    _, sessions = run([*kept, native])
    assert [s.session_id for s in sessions[:2]] == ["sess-a", "sess-b"]
    assert native.session_id not in ("sess-a", "sess-b", "")
    assert sessions[2].events == 1


def test_without_a_client_session_id_the_native_rule_is_unchanged():
    events = [enriched(timestamp=BASE_MS + m * MINUTE_MS) for m in (0, 10, 50)]
    run(events)
    assert events[0].session_id == events[1].session_id != events[2].session_id


def test_a_fingerprint_straddling_two_others_is_not_a_match():
    from pipeline.stages.sessionize import FINGERPRINT_CHARS, VisitorSessions

    first, second = "0123456789abcdef", "fedcba9876543210"
    assert len(first) == len(second) == FINGERPRINT_CHARS
    state = VisitorSessions(recent_ids=first + second)
    assert state.has_seen(first) and state.has_seen(second)
    assert not state.has_seen(first[8:] + second[:8])
