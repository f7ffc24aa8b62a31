"""Decoded visitor states of recent batches, in front of the Faust table's store.

Reading a state back from RocksDB and decoding it was ~24% of the process worker's time (a
visitor's next event usually comes a batch or more later). The cache holds what the worker
itself last wrote, so it is only right while the worker owns the partition throughout: any
rebalance empties it, and a batch that started before one does not fill it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

State = TypeVar("State")


class StateCache(Generic[State]):
    """The states of the ``capacity`` most recently written keys."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.generation = 0  # counts invalidations: a batch keeps the one it started in
        self._states: OrderedDict[bytes, State] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: bytes) -> State | None:
        return self._states.get(key)

    def put_all(self, states: dict[bytes, State], generation: int) -> None:
        """Keep a batch's written ``states`` unless the cache was invalidated since the batch
        started (``generation``); the oldest entries go past ``capacity``."""
        if generation != self.generation or self.capacity <= 0:
            return
        cached = self._states
        for key, state in states.items():
            cached[key] = state
            cached.move_to_end(key)
        while len(cached) > self.capacity:
            cached.popitem(last=False)

    def invalidate(self) -> None:
        """Forget everything (a rebalance, or a batch that failed after changing states)."""
        self._states.clear()
        self.generation += 1
