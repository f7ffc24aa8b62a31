"""The core's event step and row batch with in-memory ports: state in, state out, rows out."""

from __future__ import annotations

from pipeline import metrics
from pipeline.runtime.core.batch import RowBatch
from pipeline.runtime.core.step import EventStep
from schemas.keys import state_key
from schemas.records import EnrichedEvent
from tests.factories import BASE_MS, MINUTE_MS, MemoryStates, enriched

TIMEOUT_MS = 30 * MINUTE_MS


class Letters:
    """The ``DeadLetters`` port as a list."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, str, str]] = []

    def add_failed(self, event: EnrichedEvent, exc: Exception, stage: str) -> None:
        self.failed.append((event.event_id, type(exc).__name__, stage))


def run_all(events: list[EnrichedEvent], states: MemoryStates | None = None) -> RowBatch:
    step, states, batch = EventStep(TIMEOUT_MS), states or MemoryStates(), RowBatch()
    for event in events:
        step.run(state_key(event.project_id, event.visitor_key), event, states, batch)
    return batch


def visit() -> list[EnrichedEvent]:
    return [
        enriched(event_id=f"00000000-0000-0000-0000-{i:012d}", timestamp=BASE_MS + i * 1000)
        for i in range(3)
    ] + [
        enriched(
            event_id="00000000-0000-0000-0000-000000000099",
            type="identify",
            event="identify",
            user_id="usr_1",
            timestamp=BASE_MS + 5000,
        )
    ]


def test_a_visit_gives_its_events_one_session_and_the_identity_rows():
    batch = run_all(visit())
    assert len(batch.events) == 4
    assert {s.session_id for s in batch.sessions} == {batch.sessions[0].session_id}
    assert batch.sessions[-1].events == 4 and batch.sessions[-1].user_id == "usr_1"
    assert [(link.visitor_id, link.user_id) for link in batch.links] == [("vis_1", "usr_1")]
    assert [user.user_id for user in batch.users] == ["usr_1"]
    tables = [block.table for block in batch.blocks() if block.row_count]
    assert tables == ["identities", "events", "sessions", "users"]


def test_the_same_events_always_give_the_same_rows():
    first, again = run_all(visit()), run_all(visit())
    assert first.events == again.events and first.links == again.links
    assert [s.version for s in first.sessions] == [s.version for s in again.sessions]


def test_a_re_delivered_event_changes_nothing_and_gives_no_rows():
    states = MemoryStates()
    events = visit()
    run_all(events, states)
    duplicates = metrics.EVENTS_DUPLICATE._value.get()
    batch = run_all(events[:2], states)  # the consumer restarted before its commit
    assert batch.events == [] and batch.sessions == []
    assert metrics.EVENTS_DUPLICATE._value.get() == duplicates + 2


def test_an_event_the_stages_fail_is_a_dead_letter_and_its_state_is_left_as_it_was(
    monkeypatch,
):
    from pipeline.runtime.core import step as step_module

    real = step_module.process_event

    def failing(event, *args):
        if event.event == "poison":
            raise ValueError("a sessionize bug")
        return real(event, *args)

    monkeypatch.setattr(step_module, "process_event", failing)
    step, states, batch, letters = EventStep(TIMEOUT_MS), MemoryStates(), RowBatch(), Letters()
    events = [enriched(event="ok"), enriched(event="poison"), enriched(event="ok-2")]
    for event in events:
        key = state_key(event.project_id, event.visitor_key)
        step.run_or_dead_letter(key, event, states, batch, letters)
    assert [e.event for e in batch.events] == ["ok", "ok-2"]
    assert letters.failed == [(events[1].event_id, "ValueError", "sessionize")]
    assert states.puts == 2  # the failed event wrote no state
