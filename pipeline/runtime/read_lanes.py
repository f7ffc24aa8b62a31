"""The edge's reads in the storage process, in two classes of lanes.

Each lane is a pipe, a thread and a chDB connection of its own in the storage process; a read
takes a free lane of its class, within its deadline:

- **light** lanes (normal CPU priority) serve reads of a few rows: recent events, one event, a
  user's profile, the live stream's catch-up. They are what "readable within seconds" is
  measured by, so they never wait behind an aggregate and are never deprioritised under load.
- **aggregate** lanes (lowest CPU priority, ``storage_read_nice``) serve what scans many rows:
  the stats API and the dashboard, funnels, retention, revenue. Under load ingest comes first.

Before the split, one set of niced lanes served both: at 21,000 ev/s a poll for recent events
waited behind ingest at nice 19 (p99 POST -> visible 1.64-2.48 s against 1.22-1.37 s at nice
0, docs/benchmarks.md), and behind the dashboard's queries for a free lane.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence
from typing import Any, Protocol

from pipeline.runtime.owner_errors import OwnerTimeoutError


class Lane(Protocol):
    """One read pipe to the storage process (``RemoteClickHouse``)."""

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None, timeout: float | None = None
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]: ...


class ReadLanes:
    """Reads over several lanes at once, as many as there are; ``query`` as ``ClickHouse``'s."""

    def __init__(self, lanes: Sequence[Lane], database: str, timeout: float) -> None:
        self.database = database
        self.timeout = timeout
        self._free: queue.Queue[Lane] = queue.Queue()
        for lane in lanes:
            self._free.put(lane)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            lane = self._free.get(timeout=timeout)
        except queue.Empty:
            raise OwnerTimeoutError(f"the storage process is busy (waited {timeout:g} s)") from None
        try:
            return lane.query(sql, parameters, max(0.0, deadline - time.monotonic()))
        finally:
            self._free.put(lane)


class ReadingOn:
    """``base`` (a ``RemoteClickHouse``) with its ``query`` calls sent over ``lanes``; commands,
    inserts and the rest go to ``base`` (a stats service also writes goals)."""

    def __init__(self, base: Any, lanes: ReadLanes) -> None:
        self._base = base
        self.query = lanes.query
        self.database = lanes.database

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)
