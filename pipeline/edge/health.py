"""Readiness checks that never hold a request up: a blocking check runs in its own thread,
one at a time, and is waited for at most a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

READY_CHECK_SECONDS = 1.0


class Probe:
    """Runs ``check`` (blocking) in a thread of its own; ``await probe()`` gives '' when it
    returned within ``timeout`` seconds, else why not. While a check hangs, later calls wait
    for the same one instead of starting more (one thread at most)."""

    def __init__(self, what: str, check: Callable[[], Any], timeout: float = READY_CHECK_SECONDS):
        self.what, self.check, self.timeout = what, check, timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ready-probe")
        self._running: asyncio.Future[Any] | None = None

    async def __call__(self) -> str:
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().run_in_executor(self._pool, self.check)
        try:
            await asyncio.wait_for(asyncio.shield(self._running), self.timeout)
        except TimeoutError:
            return f"{self.what} did not answer within {self.timeout:g} s"
        except Exception as exc:
            return f"{self.what}: {type(exc).__name__}: {exc}"
        return ""
