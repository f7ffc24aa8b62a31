"""Sessionize then stitch one enriched event: the per-event step both runtimes run."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.stages.sessionize import VisitorSessions, sessionize
from pipeline.stages.stitch import StitchResult, VisitorIdentity, stitch
from schemas.records import EnrichedEvent
from schemas.sessions import Session


@dataclass(slots=True)
class Outcome:
    """What one event produced: ``event`` is None for a duplicate delivery."""

    sessions_state: VisitorSessions
    identity_state: VisitorIdentity
    event: EnrichedEvent | None
    session: Session | None = None
    stitched: StitchResult | None = None

    @property
    def identity_changed(self) -> bool:
        return self.stitched is not None and self.stitched.state_changed


def process_event(
    event: EnrichedEvent,
    sessions_state: VisitorSessions | None,
    identity_state: VisitorIdentity | None,
    session_timeout_ms: int,
) -> Outcome:
    """Stages 3 and 4 for one event, state in and state out."""
    sessions_state, session = sessionize(sessions_state, event, session_timeout_ms)
    if session is None:
        return Outcome(sessions_state, identity_state or VisitorIdentity(), None)
    identity_state, stitched = stitch(identity_state, event)
    if event.user_id and session.user_id != event.user_id:
        session.user_id = event.user_id
    return Outcome(sessions_state, identity_state, event, session, stitched)
