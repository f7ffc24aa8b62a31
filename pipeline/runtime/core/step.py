"""One enriched event through sessionize + stitch, with its visitor's state."""

from __future__ import annotations

import structlog

from pipeline import metrics
from pipeline.runtime.core.ports import DeadLetters, Outputs, VisitorStates
from pipeline.stages.chain import process_event
from schemas.records import EnrichedEvent

log = structlog.get_logger(__name__)


class EventStep:
    """Stages 3-4 for one event: read the visitor's state, run ``process_event``, write the
    state back, hand the rows on. A re-delivered event (sessionize keeps recent event ids)
    changes nothing and gives no rows."""

    __slots__ = ("timeout_ms",)

    def __init__(self, session_timeout_ms: int) -> None:
        self.timeout_ms = session_timeout_ms

    def run(self, key: bytes, event: EnrichedEvent, states: VisitorStates, out: Outputs) -> None:
        """Raises what the stages raise (the state is then left as it was)."""
        outcome = process_event(event, states.sessions(key), states.identity(key), self.timeout_ms)
        states.put(key, outcome)
        if outcome.event is None:
            metrics.EVENTS_DUPLICATE.inc()
            return
        out.add_outcome(key, outcome)

    def run_or_dead_letter(
        self,
        key: bytes,
        event: EnrichedEvent,
        states: VisitorStates,
        out: Outputs,
        dead: DeadLetters,
    ) -> None:
        """``run``; an event the stages cannot process becomes a dead letter and the caller
        goes on with the next. (``run``'s body, inlined: one call less per event.)"""
        try:
            outcome = process_event(
                event, states.sessions(key), states.identity(key), self.timeout_ms
            )
            states.put(key, outcome)
            if outcome.event is None:
                metrics.EVENTS_DUPLICATE.inc()
                return
            out.add_outcome(key, outcome)
        except Exception as exc:
            log.exception("processor.stage_failed", event_id=event.event_id)
            dead.add_failed(event, exc, "sessionize")
