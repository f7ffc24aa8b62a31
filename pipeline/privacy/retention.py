"""Anonymous visitors never linked to a user are purged after a retention period."""

from __future__ import annotations

import threading

import structlog

from pipeline import metrics
from pipeline.privacy.erase import SqlRunner, count_then_delete

log = structlog.get_logger(__name__)
NEVER_LINKED = (
    "(project_id, visitor_id) NOT IN (SELECT project_id, visitor_id FROM {db}.identities)"
)


def purge_anonymous(ch: SqlRunner, older_than_days: int) -> dict[str, int]:
    """Delete events and sessions older than the cutoff whose visitor is anonymous and was
    never identified; returns the row counts per table."""
    params = {"days": older_than_days}
    never_linked = NEVER_LINKED.format(db=ch.database)
    counts = {
        "events": count_then_delete(
            ch,
            "events",
            "timestamp < now64(3) - toIntervalDay({days:UInt32}) AND user_id = '' AND "
            + never_linked,
            params,
        ),
        "sessions": count_then_delete(
            ch,
            "sessions",
            "end < now64(3) - toIntervalDay({days:UInt32}) AND user_id = '' AND " + never_linked,
            params,
        ),
    }
    for table, count in counts.items():
        metrics.ANONYMOUS_PURGED.labels(table).inc(count)
    log.info("privacy.anonymous_purged", days=older_than_days, **counts)
    return counts


class RetentionJob:
    """Runs ``purge_anonymous`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, ch: SqlRunner, days: int, interval: float) -> None:
        self.ch, self.days, self.interval = ch, days, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        if self.days > 0:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                purge_anonymous(self.ch, self.days)
            except Exception:
                log.exception("privacy.purge_failed")

    def stop(self) -> None:
        self._stop.set()
