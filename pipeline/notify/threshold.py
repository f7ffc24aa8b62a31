"""Threshold rules ("more than N ``error`` events in 5 minutes"), evaluated on the stored events
every ``notify_threshold_check_seconds``; a rule that fired stays quiet for its cool-down (when
it last fired is read from the outbox, so a restart keeps it)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
import structlog

from pipeline.notify.config import Rule
from pipeline.notify.outbox import Directory
from pipeline.notify.store import NotifyStore, Pending, now_ms

log = structlog.get_logger(__name__)


def like_of(pattern: str) -> str:
    """An fnmatch pattern (``*``, ``?``) as a LIKE pattern."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


class ThresholdJob:
    def __init__(
        self,
        store: NotifyStore,
        directory: Directory,
        submit: Callable[[list[Pending]], None],
        every_seconds: float,
    ) -> None:
        self.store = store
        self.directory = directory
        self.submit = submit
        self.every_seconds = every_seconds
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="notify-threshold", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                self.check()
            except Exception as exc:
                log.warning("notify.threshold_failed", error=str(exc))

    def count(self, rule: Rule, since_ms: int) -> int:
        _, rows = self.store.clickhouse.query(
            f"SELECT count() FROM {self.store.db}.events WHERE project_id = {{p:String}}"
            " AND timestamp >= fromUnixTimestamp64Milli({t:Int64})"
            " AND event LIKE {e:String} AND ({c:String} = '' OR channel = {c:String})",
            {"p": rule.project_id, "t": since_ms, "e": like_of(rule.event_pattern or "*"),
             "c": rule.channel},
        )  # fmt: skip
        return int(rows[0][0])

    def check(self) -> list[Pending]:
        """Evaluate every threshold rule once; returns the alerts it raised."""
        fired: list[Pending] = []
        for rule in self.directory.rules:
            if rule.kind != "threshold":
                continue
            now = now_ms()
            cooldown_ms = rule.cooldown_seconds * 1000
            if now - self.store.last_fired(rule.rule_id, cooldown_ms + 60_000) < cooldown_ms:
                continue
            count = self.count(rule, now - rule.window_seconds * 1000)
            if count <= rule.threshold:
                continue
            fired.extend(self._alerts(rule, count, now))
        if fired:
            self.store.add_pending(fired)  # recorded before any attempt
            self.submit(fired)
        return fired

    def _alerts(self, rule: Rule, count: int, now: int) -> list[Pending]:
        alert_id = f"alert_{rule.rule_id}_{now}"
        pattern = rule.event_pattern or "*"
        payload = orjson.dumps(
            {
                "event_id": alert_id, "project_id": rule.project_id, "alert": True,
                "event": f"threshold: {pattern}", "icon": "🚨", "channel": rule.channel,
                "description": f"{count} '{pattern}' events in the last {rule.window_seconds} s"
                f" (more than {rule.threshold})",
                "count": count, "threshold": rule.threshold,
                "window_seconds": rule.window_seconds, "rule_id": rule.rule_id,
                "timestamp": now,
            }
        ).decode()  # fmt: skip
        targets = [
            d.destination_id for d in self.directory.destinations.values()
            if d.project_id == rule.project_id
            and rule.destination_id in ("", d.destination_id)
        ]  # fmt: skip
        return [
            Pending(f"{alert_id}:{d}", rule.project_id, d, rule.rule_id, alert_id, now, payload)
            for d in targets
        ]
