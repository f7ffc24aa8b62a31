"""The pipeline's plan cache (a version check, not a reload, while nothing changed) and
``plan diff``."""

from __future__ import annotations

import msgspec

from pipeline.plans.book import PlanBook
from pipeline.plans.diff import diff_plans
from tests.factories import sample_plan


class Plans:
    """``tracking_plans`` as the two queries of ``PlanBook`` see it."""

    database = "db"

    def __init__(self) -> None:
        self.stored: dict[str, list[bytes]] = {}
        self.loads = 0
        self.fail = False

    def push(self, project: str, plan) -> None:
        versions = self.stored.setdefault(project, [])
        versions.append(
            msgspec.json.encode(msgspec.structs.replace(plan, version=len(versions) + 1))
        )

    def query(self, sql, parameters=None):
        if self.fail:
            raise ConnectionError("down")
        if "GROUP BY project_id" in sql:
            return ["p", "v"], [(p, len(v)) for p, v in self.stored.items()]
        self.loads += 1
        return ["plan"], [(self.stored[parameters["p"]][parameters["v"] - 1],)]


def test_the_book_compiles_only_changed_plans_and_keeps_them_when_the_read_fails():
    table = Plans()
    book = PlanBook(table, every=3600)
    book.refresh()
    assert book.plans == {}
    table.push("a", sample_plan())
    book.refresh()
    assert book.plans == {}  # not due yet
    book.refresh(force=True)
    assert book.plans["a"].version == 1 and table.loads == 1
    table.push("b", sample_plan("block_invalid"))
    book.refresh(force=True)
    assert (book.plans["a"].version, book.plans["b"].mode, table.loads) == (1, "block_invalid", 2)
    table.push("a", sample_plan("block_unplanned"))
    book.refresh(force=True)
    assert (book.plans["a"].version, book.plans["a"].mode, table.loads) == (2, "block_unplanned", 3)
    table.fail = True
    book.refresh(force=True)
    assert set(book.plans) == {"a", "b"}
    table.fail = False
    table.stored["b"].append(b"not a plan")  # b's version 2 cannot be read
    table.push("a", sample_plan("observe"))
    book.refresh(force=True)
    assert (book.plans["a"].version, book.plans["a"].mode) == (3, "observe")
    assert (book.plans["b"].version, book.plans["b"].mode) == (1, "block_invalid")


def test_diff_names_each_change():
    old = sample_plan()
    new = msgspec.convert(msgspec.to_builtins(old), type(old))
    new.mode = "block_invalid"
    new.events[0].properties["plan"].enum = ["free", "pro", "team"]
    del new.events[0].properties["seats"]
    new.events[1].owner = "web"
    new.events = [e for e in new.events if e.name != "Exported Report"]
    new.events.append(msgspec.convert({"name": "Opened Chat"}, type(new.events[0])))
    changes = [(sign, what) for sign, what, _ in diff_plans(old, new)]
    assert changes == [
        ("~", "mode"),
        ("~", "event 'Signed Up' property 'plan'"),
        ("-", "event 'Signed Up' property 'seats'"),
        ("~", "event 'Viewed Pricing' owner"),
        ("-", "event 'Exported Report'"),
        ("+", "event 'Opened Chat'"),
    ]
    assert diff_plans(old, old) == []
