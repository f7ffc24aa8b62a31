"""A read's total comes from its page when the page proves it; otherwise it is counted."""

from __future__ import annotations

import pytest

from pipeline.query.event_filters import EventQuery, total_from_page


def query(limit: int, offset: int) -> EventQuery:
    return EventQuery("project_id = {tenant:String}", {"tenant": "p"}, limit, offset)


@pytest.mark.parametrize(
    ("rows", "limit", "offset", "total"),
    [
        (5, 100, 0, 5),  # a short first page holds every match
        (0, 100, 0, 0),  # nothing matches
        (3, 100, 50, 53),  # a short later page: the matches end on it
        (100, 100, 0, None),  # a full page: more may follow
        (0, 100, 50, None),  # past the end: how far is unknown
    ],
)
def test_total_from_page(rows: int, limit: int, offset: int, total: int | None) -> None:
    assert total_from_page(rows, query(limit, offset)) == total
