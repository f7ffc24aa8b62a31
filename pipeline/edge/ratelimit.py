"""Token buckets (one per API key): each accepted event takes a token; empty means ``429``."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class TokenBuckets:
    """``rate`` tokens per second refill each bucket up to ``burst``; at most ``max_keys``
    buckets are kept (the least recently used is dropped, i.e. refilled)."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, max(burst, 1.0), max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, tokens: int) -> float:
        """Take ``tokens``; returns 0 when allowed, else the seconds until they would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            level, at = self._buckets.pop(key, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            wait = 0.0
            if tokens <= level or level >= self.burst:  # above the burst: when full, in debt
                level -= tokens
            else:
                wait = (min(tokens, self.burst) - level) / self.rate
            self._buckets[key] = (level, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    def give_back(self, key: str, tokens: int) -> None:
        """Return tokens taken for events that were not accepted after all (up to ``burst``)."""
        if self.rate <= 0:
            return
        with self._lock:
            if key in self._buckets:
                level, at = self._buckets[key]
                self._buckets[key] = (min(self.burst, level + tokens), at)
