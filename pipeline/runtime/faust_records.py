"""What the Kafka runtime's agents agree on: record headers, dead letters of ``events.raw``
records, and acknowledging a ``take_events`` batch only once its body finished."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

from faust.types import EventT

from pipeline.deadletter import letters
from schemas.records import DeadLetter, RawEvent

RECORD_HEADER = "trackhouse-record"
SESSION_HEADER = "trackhouse-session"
LINK, USER = b"identity-link", b"user-update"
VIOLATIONS = b"plan-violations"  # on the identities topic: one event's PlanViolation rows


def dead_letter(
    value: bytes | None,
    reason: str,
    stage: str,
    message: Any,
    raw: RawEvent | None = None,
    index: int | None = None,
) -> DeadLetter:
    """The dead letter of a record of ``events.raw`` (without its IP): replayed to the same
    topic by ``trackhouse dead replay``; ``dead_id`` is that of the record's offset (and of
    the event's ``index`` when the record is an array)."""
    where = f"{message.topic}/{message.partition}/{message.offset}"
    return letters.dead_letter(
        value,
        reason,
        stage,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        record_type="raw-event" if raw is not None else "",
        project_id=raw.project_id if raw is not None else letters.project_of_key(message.key),
        identity=where if index is None else f"{where}/{index}",
    )


def stored_dead_letter(letter: DeadLetter) -> DeadLetter:
    """A dead letter as the table keeps it (older records lack ``dead_id``/``failed_at``)."""
    if not letter.dead_id:
        where = f"{letter.topic}/{letter.partition}/{letter.offset}"
        letter.dead_id = letters.dead_id(letter.stage, where)
    if not letter.failed_at:
        letter.failed_at = int(time.time() * 1000)
    return letter


@contextlib.contextmanager
def acked_only_when_done(events: Sequence[EventT]) -> Iterator[None]:
    """``take_events`` acks a batch when the loop body is left, even by an exception or a
    cancellation (shutdown). When the body did not finish, mark the messages as acked without
    acking them, so their offsets are never committed and the batch is consumed again."""
    try:
        yield
    except BaseException:
        for event in events:
            event.message.acked = True
        raise
