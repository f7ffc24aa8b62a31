"""Goals of a project (the stats API's ``event:goal``): a custom event name, or a page path
pattern in Plausible's wildcard syntax (``*`` any characters but ``/``, ``**`` any characters),
optionally a revenue goal with a currency. Kept in the ClickHouse ``goals`` table; a deletion is
a newer row marked deleted."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from pipeline.sink.rows import Block

log = structlog.get_logger(__name__)
COLUMNS = ("project_id", "goal_id", "display_name", "event_name", "page_path", "currency",
           "created_at", "updated_at", "deleted")  # fmt: skip
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_TEXT = 500


class GoalError(ValueError):
    """A goal that cannot be stored: ``field`` says which part and the message why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Goal:
    goal_id: str
    display_name: str
    event_name: str  # a custom event goal ...
    page_path: str  # ... or a pageview goal
    currency: str  # revenue goals only
    created_at: int  # epoch ms

    @property
    def kind(self) -> str:
        return "event" if self.event_name else "page"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "goal_type": self.kind}


def wildcard_regex(pattern: str) -> str:
    """A page path pattern as an anchored RE2 regex (``**`` spans ``/``, ``*`` does not)."""
    out = []
    for part in re.split(r"(\*\*|\*)", pattern):
        if part == "**":
            out.append(".*")
        elif part == "*":
            out.append("[^/]*")
        else:
            out.append(re.escape(part))
    return "^" + "".join(out) + "$"


def check(event_name: str | None, page_path: str | None, display_name: str | None,
          currency: str | None) -> tuple[str, str, str, str]:  # fmt: skip
    """Validated ``(display_name, event_name, page_path, currency)``; raises ``GoalError``."""
    event_name, page_path = (event_name or "").strip(), (page_path or "").strip()
    if bool(event_name) == bool(page_path):
        raise GoalError("event_name", "give exactly one of event_name and page_path")
    if page_path and not page_path.startswith("/"):
        raise GoalError("page_path", "page_path starts with /")
    if currency and not CURRENCY.match(currency):
        raise GoalError("currency", "currency: an ISO 4217 code such as USD")
    if currency and not event_name:
        raise GoalError("currency", "only a custom event goal can be a revenue goal")
    name = (display_name or "").strip() or (event_name or f"Visit {page_path}")
    for field, value in (("event_name", event_name), ("page_path", page_path),
                         ("display_name", name)):  # fmt: skip
        if len(value) > MAX_TEXT:
            raise GoalError(field, f"{field}: at most {MAX_TEXT} characters")
    return name, event_name, page_path, currency or ""


class GoalRegistry:
    """Goals per project, read from ClickHouse on each call (a query reads them once)."""

    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse

    def list(self, project_id: str) -> list[Goal]:
        _, rows = self.clickhouse.query(
            "SELECT goal_id, display_name, event_name, page_path, currency, "
            f"toUnixTimestamp64Milli(created_at) FROM {self.clickhouse.database}.goals FINAL "
            "WHERE project_id = {p:String} AND NOT deleted ORDER BY created_at, goal_id",
            {"p": project_id},
        )
        return [Goal(*row) for row in rows]

    def add(self, project_id: str, event_name: str | None = None, page_path: str | None = None,
            display_name: str | None = None, currency: str | None = None) -> Goal:  # fmt: skip
        name, event, page, cur = check(event_name, page_path, display_name, currency)
        if any(g.display_name == name for g in self.list(project_id)):
            raise GoalError("display_name", f"a goal named {name!r} exists")
        now = int(time.time() * 1000)
        goal = Goal("goal_" + secrets.token_hex(6), name, event, page, cur, now)
        self._write(project_id, goal, now, deleted=False)
        log.info("goal.added", project_id=project_id, goal_id=goal.goal_id)
        return goal

    def delete(self, project_id: str, goal_id: str) -> Goal | None:
        """Delete a goal by id or display name; returns it, or None when there is none."""
        found = next(
            (g for g in self.list(project_id) if goal_id in (g.goal_id, g.display_name)), None
        )
        if found is not None:
            self._write(project_id, found, int(time.time() * 1000), deleted=True)
            log.info("goal.deleted", project_id=project_id, goal_id=found.goal_id)
        return found

    def _write(self, project_id: str, goal: Goal, now: int, deleted: bool) -> None:
        row = (project_id, goal.goal_id, goal.display_name, goal.event_name, goal.page_path,
               goal.currency, goal.created_at, now, deleted)  # fmt: skip
        self.clickhouse.insert(Block("goals", COLUMNS, [[value] for value in row]))
