"""One enriched event through validate (its project's tracking plan, if any), then sessionize
+ stitch, with its visitor's state."""

from __future__ import annotations

import structlog

from pipeline import metrics
from pipeline.plans.book import PlanBook
from pipeline.runtime.core.ports import DeadLetters, Outputs, VisitorStates
from pipeline.stages.chain import process_event
from pipeline.stages.validate import BlockedByPlan, CompiledPlan, blocked, validate
from schemas.records import EnrichedEvent

log = structlog.get_logger(__name__)


class EventStep:
    """Stages 2½-4 for one event: check it against its project's plan (``book``; a project
    without one costs a dict lookup), read the visitor's state, run ``process_event``, write
    the state back, hand the rows on. Violations go to ``out`` as rows; an event the plan's
    mode blocks goes no further (``BlockedByPlan``: a dead letter, replayable). A re-delivered
    event (sessionize keeps recent event ids) changes nothing and gives no rows."""

    __slots__ = ("book", "timeout_ms")

    def __init__(self, session_timeout_ms: int, book: PlanBook | None = None) -> None:
        self.timeout_ms = session_timeout_ms
        self.book = book if book is not None else PlanBook()

    def run(self, key: bytes, event: EnrichedEvent, states: VisitorStates, out: Outputs) -> None:
        """Raises what the stages raise (the state is then left as it was), and
        ``BlockedByPlan`` for an event its plan blocks."""
        plans = self.book.plans
        if plans:
            plan = plans.get(event.project_id)
            if plan is not None:
                self.check(event, plan, out)
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
            plans = self.book.plans
            if plans:
                plan = plans.get(event.project_id)
                if plan is not None:
                    self.check(event, plan, out)
            outcome = process_event(
                event, states.sessions(key), states.identity(key), self.timeout_ms
            )
            states.put(key, outcome)
            if outcome.event is None:
                metrics.EVENTS_DUPLICATE.inc()
                return
            out.add_outcome(key, outcome)
        except BlockedByPlan as exc:
            metrics.EVENTS_BLOCKED.inc()
            dead.add_failed(event, exc, "validate")
        except Exception as exc:
            log.exception("processor.stage_failed", event_id=event.event_id)
            dead.add_failed(event, exc, "sessionize")

    @staticmethod
    def check(event: EnrichedEvent, plan: CompiledPlan, out: Outputs) -> None:
        """The validate stage: violations to ``out``; raises ``BlockedByPlan`` when the plan's
        mode stops the event."""
        violations = validate(event, plan)
        if violations:
            out.add_violations(violations)
            metrics.PLAN_VIOLATIONS.inc(len(violations))
            if blocked(plan, violations):
                raise BlockedByPlan(violations)
