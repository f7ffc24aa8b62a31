"""The small interfaces the core works through; each runtime plugs its own in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.sink.rows import InsertBlock
from pipeline.stages.chain import Outcome
from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import VisitorIdentity
from schemas.plans import PlanViolation
from schemas.records import EnrichedEvent


class VisitorStates(Protocol):
    """Per-visitor stage state by state key (``schemas.keys.state_key``).

    ``sessions`` then ``identity`` are read for one key, then ``put`` once: an implementation
    may read both from one stored value."""

    def sessions(self, key: bytes) -> VisitorSessions | None: ...

    def identity(self, key: bytes) -> VisitorIdentity | None: ...

    def put(self, key: bytes, outcome: Outcome) -> None:
        """The visitor's state after an event (``outcome.sessions_state``,
        ``outcome.identity_state``; ``outcome.identity_changed`` says if identity moved)."""
        ...


class Outputs(Protocol):
    """Where an event's results go (rows to insert, or records to publish)."""

    def add_outcome(self, key: bytes, outcome: Outcome) -> None:
        """An event that is not a duplicate (``outcome.event`` is set)."""
        ...

    def add_violations(self, violations: Sequence[PlanViolation]) -> None:
        """The tracking-plan rules an event broke (rows of ``plan_violations``)."""
        ...


class DeadLetters(Protocol):
    def add_failed(self, event: EnrichedEvent, exc: Exception, stage: str) -> None:
        """``event`` failed ``stage`` with ``exc``: keep it as a dead letter."""
        ...


class BlockWriter(Protocol):
    """The ClickHouse client as the sink sees it."""

    def insert_once(self, block: InsertBlock) -> None:
        """Insert one block, one attempt (the sink's policy retries)."""
        ...


class Committer(Protocol):
    """Makes a position durable once everything before it is in ClickHouse."""

    def commit(self, position: object) -> None: ...


class Notices(Protocol):
    """Notifications (``pipeline.notify.outbox.Outbox``): a batch's events that rules pick
    become pending deliveries, inserted with the batch's rows, then handed on once in."""

    def block(self, events: list[EnrichedEvent]) -> tuple[InsertBlock | None, list[object]]:
        """The rows to insert with the batch (None: none), and what ``stored`` gets later."""
        ...

    def stored(self, pending: list[object]) -> None:
        """They are in ClickHouse (the driver commits afterwards)."""
        ...


class Clock(Protocol):
    def __call__(self) -> float:
        """Monotonic seconds."""
        ...
