"""Notifications in a process that owns the data: the directory of destinations and rules, the
outbox (the core's notices port), the threshold job, and the delivery worker (in a process of
its own: ``process.DeliveryProcess``), together."""

from __future__ import annotations

from typing import Any

from pipeline.notify.outbox import Directory, Outbox
from pipeline.notify.process import DeliveryProcess
from pipeline.notify.store import NotifyStore
from pipeline.notify.threshold import ThresholdJob
from pipeline.settings import Settings


class Notifications:
    def __init__(self, clickhouse: Any, settings: Settings) -> None:
        self.store = NotifyStore(clickhouse)
        self.directory = Directory(self.store, settings.notify_reload_seconds)
        self.worker = DeliveryProcess(clickhouse, settings, lambda: self.directory.destinations)
        self.outbox = Outbox(self.directory, self.worker.submit)
        self.threshold = ThresholdJob(
            self.store, self.directory, self.worker.submit, settings.notify_threshold_check_seconds
        )

    def start(self) -> None:
        """Before the driver starts: the worker first resends what is pending in the outbox."""
        self.directory.start()
        self.worker.start()
        self.threshold.start()

    def stop(self) -> None:
        self.threshold.stop()
        self.directory.stop()
        self.worker.stop()
