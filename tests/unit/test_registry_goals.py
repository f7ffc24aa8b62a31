"""Goals: Plausible's page path wildcards and what a goal must be."""

from __future__ import annotations

import re

import pytest

from pipeline.registry.goals import GoalError, check, wildcard_regex


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("/blog", "/blog", True),
        ("/blog", "/blog/x", False),
        ("/blog/*", "/blog/x", True),
        ("/blog/*", "/blog/x/y", False),
        ("/blog/**", "/blog/x/y", True),
        ("/a.b?", "/a.b?", True),
        ("/a.b", "/axb", False),
        ("/*/edit", "/post-1/edit", True),
    ],
)
def test_wildcards(pattern, path, hit):
    assert bool(re.match(wildcard_regex(pattern), path)) is hit


def test_names_and_checks():
    assert check(None, "/docs/**", None, None) == ("Visit /docs/**", "", "/docs/**", "")
    assert check("Buy", None, "Purchase", "EUR") == ("Purchase", "Buy", "", "EUR")
    for args, field in [
        (("a", "/b", None, None), "event_name"),
        ((None, None, None, None), "event_name"),
        ((None, "docs", None, None), "page_path"),
        (("Buy", None, None, "euro"), "currency"),
        ((None, "/x", None, "EUR"), "currency"),
    ]:
        with pytest.raises(GoalError) as raised:
            check(*args)
        assert raised.value.field == field
