"""The rows of one batch, as both runtimes collect them for one insert."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pipeline import metrics
from pipeline.plans.store import violation_block
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.core.ports import Clock
from pipeline.sink import rows
from pipeline.stages.chain import Outcome
from schemas.plans import PlanViolation
from schemas.records import DeadLetter, EnrichedEvent, IdentityLink, UserUpdate
from schemas.sessions import Session


class RowBatch:
    """Events, sessions, identity links, user updates, dead letters and plan violations to
    insert together (``blocks``). It is the core's ``ports.Outputs``: ``add_outcome`` takes
    an event's rows."""

    __slots__ = (
        "dead",
        "events",
        "links",
        "sessions",
        "started",
        "undecodable",
        "users",
        "violations",
    )

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.events: list[EnrichedEvent] = []
        self.sessions: list[Session] = []
        self.links: list[IdentityLink] = []
        self.users: list[UserUpdate] = []
        self.dead: list[DeadLetter] = []
        self.violations: list[PlanViolation] = []
        self.undecodable = 0  # records a sink could not read (logged and skipped)
        self.started = clock()

    def add_outcome(self, key: bytes, outcome: Outcome) -> None:
        self.events.append(outcome.event)  # type: ignore[arg-type]  # not a duplicate
        if outcome.session is not None:
            self.sessions.append(outcome.session)
        if outcome.stitched is not None:
            self.links.extend(outcome.stitched.links)
            self.users.extend(outcome.stitched.user_updates)

    def add_violations(self, violations: Sequence[PlanViolation]) -> None:
        self.violations.extend(violations)

    def blocks(self) -> list[rows.InsertBlock]:
        """The column blocks to insert, in order (build them before the states they came
        from change again: a session is updated in place by its next event)."""
        blocks = rows.batch_blocks(self.events, self.sessions, self.links, self.users, self.dead)
        if self.violations:
            blocks.append(violation_block(self.violations))
        return blocks

    def marks(self) -> tuple[int, int, int, int]:
        return len(self.events), len(self.sessions), len(self.links), len(self.users)

    def drop_erased(
        self, tombstones: Tombstones, marks: tuple[int, int, int, int], written_at: int
    ) -> None:
        """Drop the rows added since ``marks`` (one Kafka record's) whose visitor or user was
        erased after the record was written (``written_at``, its timestamp)."""
        drops = tombstones.drops
        events, sessions, links, users = marks
        kept = [
            e for e in self.events[events:]
            if not drops(e.project_id, e.visitor_id, e.user_id, written_at)
        ]  # fmt: skip
        erased = len(self.events) - events - len(kept)
        self.events[events:] = kept
        self.sessions[sessions:] = [
            x for x in self.sessions[sessions:]
            if not drops(x.project_id, x.visitor_id, x.user_id, written_at)
        ]  # fmt: skip
        self.links[links:] = [
            x for x in self.links[links:]
            if not drops(x.project_id, x.visitor_id, x.user_id, written_at)
        ]  # fmt: skip
        self.users[users:] = [
            x for x in self.users[users:] if not drops(x.project_id, "", x.user_id, written_at)
        ]
        if erased:
            metrics.EVENTS_ERASED.inc(erased)
