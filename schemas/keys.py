"""The key rule, once: which state an event belongs to and which Kafka partition carries it.

A visitor's state (sessions, identity) is kept under ``project_id \\0 visitor key``, where the
visitor key is the visitor id, or ``user:<user_id>`` for a server-side event without one. The
same bytes are the Kafka record key of ``events.raw`` (so one visitor stays on one partition),
the key of the embedded runtime's state store and of the Faust tables, and what an erasure
tombstone hashes. ``RawEvent.visitor_key`` / ``EnrichedEvent.visitor_key`` are ``visitor_key``.
"""

from __future__ import annotations

from typing import Protocol

USER_PREFIX = "user:"


class Keyed(Protocol):
    """What the rule reads of an event."""

    project_id: str
    visitor_id: str
    user_id: str


def user_key(user_id: str) -> str:
    """The visitor key of a user's own (server-side) events."""
    return USER_PREFIX + user_id


def visitor_key(event: Keyed) -> str:
    """The visitor, or the user for server-side events."""
    return event.visitor_id or USER_PREFIX + event.user_id


def state_key(project_id: str, visitor_key: str) -> bytes:
    """``project_id \\0 visitor_key``: the state key and the Kafka record key."""
    return f"{project_id}\x00{visitor_key}".encode()


def event_key(event: Keyed) -> bytes:
    """``state_key(event.project_id, visitor_key(event))``, written out (one call fewer on the
    edge's publish path): one visitor's events share it, and a Kafka partition."""
    return f"{event.project_id}\x00{visitor_key(event)}".encode()
