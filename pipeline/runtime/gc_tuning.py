"""Garbage-collector settings for the long-running processes (edge, storage, Kafka workers)."""

from __future__ import annotations

import gc


def keep_collector_off_hot_path() -> None:
    """Freeze what start-up built (caches, parsers, the frameworks' objects: no collection
    needs to scan them again) and raise the first threshold, so the collector does not run
    every few hundred allocations of the per-event path. Call once start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
