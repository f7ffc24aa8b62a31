"""How far the storage process is behind the edge, in spool bytes and in seconds.

The edge sheds load (answers ``503``) on either: bytes bound the spool the storage process has
yet to read, seconds bound what users see — the time from an event's acceptance to its row in
ClickHouse. A byte limit alone cannot do the second: the same number of bytes is a tenth of a
second at one rate and several seconds at another.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Backlog:
    """Spool appends not yet inserted, oldest first. Used from the edge's event loop only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pending: deque[tuple[int, float]] = deque()

    def appended(self, end_offset: int, accepted_at: float) -> None:
        """Records below ``end_offset`` were accepted at ``accepted_at`` (``clock`` time)."""
        self._pending.append((end_offset, accepted_at))

    def seconds_behind(self, inserted_offset: int) -> float:
        """Age of the oldest accepted record not yet inserted (0 when none is waiting).

        Appends finish out of order under concurrency, so an entry waits behind an earlier one
        with a higher offset: the age is then overstated by at most one group commit."""
        pending = self._pending
        while pending and pending[0][0] <= inserted_offset:
            pending.popleft()
        return self._clock() - pending[0][1] if pending else 0.0

    def now(self) -> float:
        return self._clock()
