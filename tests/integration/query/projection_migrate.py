"""For the projection tests' chDB child scripts: how many active ``events`` parts lack a
projection before and after ``migrate``, which materializes it in a background mutation."""

from __future__ import annotations

import time
from typing import Any


def lacking_before_and_after_migrate(ch: Any, projection: str) -> tuple[int, int]:
    """Parts of ``proj.events`` without ``projection``: before ``ch.migrate()``, and once the
    mutation it starts has run (waited for up to 10 s)."""
    lacking = (
        "SELECT count() FROM system.parts WHERE database = 'proj' AND table = 'events' "
        f"AND active AND NOT has(projections, '{projection}')"
    )
    before = ch.query(lacking)[1][0][0]
    ch.migrate()
    for _ in range(100):
        if ch.query(lacking)[1][0][0] == 0:
            break
        time.sleep(0.1)
    return before, ch.query(lacking)[1][0][0]
