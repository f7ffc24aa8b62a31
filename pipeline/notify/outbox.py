"""The core's notices port: a stored batch's events that rules pick become pending deliveries,
inserted with the batch's rows (before the driver commits), then handed to the delivery worker.

``Directory`` keeps the destinations and rules of every project in memory, re-read every
``notify_reload_seconds`` by a background thread (changes come from the admin API or CLI)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from pipeline.notify.config import Destination, Rule
from pipeline.notify.rules import ProjectRules, compile_all
from pipeline.notify.store import NotifyStore, Pending, outbox_block
from pipeline.sink.rows import Block
from schemas.records import EnrichedEvent

log = structlog.get_logger(__name__)
_encode = msgspec.json.Encoder().encode


class Directory:
    """Destinations and rules of every project, from memory."""

    def __init__(self, store: NotifyStore, reload_seconds: float) -> None:
        self.store = store
        self.reload_seconds = reload_seconds
        self.by_project: dict[str, ProjectRules] = {}
        self.destinations: dict[str, Destination] = {}
        self.rules: list[Rule] = []
        self._stop = threading.Event()
        try:
            self.reload()
        except Exception as exc:  # ClickHouse not answering yet: the reload thread tries again
            log.warning("notify.reload_failed", error=str(exc))

    def reload(self) -> None:
        destinations, rules = self.store.destinations(), self.store.rules()
        self.destinations = {d.destination_id: d for d in destinations}
        self.rules = rules
        self.by_project = compile_all(destinations, rules)

    def start(self) -> None:
        threading.Thread(target=self._reload_forever, name="notify-reload", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _reload_forever(self) -> None:
        while not self._stop.wait(self.reload_seconds):
            try:
                self.reload()
            except Exception as exc:  # keep the last known configuration
                log.warning("notify.reload_failed", error=str(exc))


class Outbox:
    """``block``: the pending deliveries of a batch's events (an insert block, or None);
    ``stored``: they are in ClickHouse, hand them on (``on_stored``: the delivery worker)."""

    def __init__(self, directory: Directory, on_stored: Callable[[list[Pending]], Any]) -> None:
        self.directory = directory
        self.on_stored = on_stored

    def pending(self, events: list[EnrichedEvent]) -> list[Pending]:
        by_project = self.directory.by_project
        if not by_project:  # no project has a destination: nothing to look at
            return []
        out: list[Pending] = []
        for event in events:
            rules = by_project.get(event.project_id)
            if rules is None:
                continue
            picked = rules.destinations_for(event)
            if picked:
                payload = _encode(event).decode()
                out.extend(
                    Pending(
                        f"{event.event_id}:{destination}",
                        event.project_id,
                        destination,
                        rule,
                        event.event_id,
                        event.received_at,
                        payload,
                    )
                    for destination, rule in picked
                )
        return out

    def block(self, events: list[EnrichedEvent]) -> tuple[Block | None, list[Pending]]:
        """The outbox rows of ``events`` (status pending, versioned by the event's arrival, so
        a replay after a crash collapses with them and never hides a later 'sent')."""
        pending = self.pending(events)
        if not pending:
            return None, pending
        return outbox_block([p.row("pending", p.created_at) for p in pending]), pending

    def stored(self, pending: list[Pending]) -> None:
        if pending:
            self.on_stored(pending)
