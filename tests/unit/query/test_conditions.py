"""Steps, page patterns, property filters and dimensions: SQL with bound parameters only."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.query.conditions import (
    Params,
    bounded_int,
    dimension,
    flag,
    glob_regex,
    step_condition,
)
from pipeline.query.invalid import InvalidQuery
from tests.analytics_oracle import page_matches


@given(
    st.text(alphabet="ab/.-?+()[]$^|\\*", max_size=8),
    st.text(alphabet="ab/.-?+()$", max_size=10),
)
def test_the_page_regex_agrees_with_a_plain_matcher(pattern, path):
    assert bool(re.match(glob_regex(pattern), path)) == page_matches(pattern, path)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/pricing*", "/pricing", True),
        ("/pricing*", "/pricing-2", True),
        ("/pricing*", "/pricing/pro", False),
        ("/blog/**", "/blog/a/b", True),
        ("/blog/*", "/blog/a/b", False),
        ("/a.b", "/aXb", False),
        ("/x", "/x/", False),
    ],
)
def test_page_patterns_like_plausible_goals(pattern, path, matches):
    assert bool(re.match(glob_regex(pattern), path)) is matches


def test_values_are_bound_never_spliced():
    params = Params()
    hostile = "x' OR 1=1 --"
    _, sql = step_condition(
        {"event": hostile, "filters": {hostile: hostile, "n": 2, "ok": True}}, "steps.0", params
    )
    assert hostile not in sql and "'x'" not in sql
    assert hostile in params.values.values()
    assert 2.0 in params.values.values() and 1 in params.values.values()
    assert re.fullmatch(r"[\w\s(){}:=',.]+", sql), sql


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ("signup", "steps.0"),
        ({}, "steps.0"),
        ({"event": "a", "page": "/"}, "steps.0"),
        ({"event": 3}, "steps.0.event"),
        ({"page": ""}, "steps.0.page"),
        ({"event": "a", "filters": []}, "steps.0.filters"),
        ({"event": "a", "filters": {"k": None}}, "steps.0.filters.k"),
        ({"event": "a", "filters": {"": "v"}}, "steps.0.filters"),
        ({"event": "a", "name": 5}, "steps.0.name"),
        ({"event": "a", "extra": 1}, "steps.0.extra"),
    ],
)
def test_bad_steps_name_the_field(step, field):
    with pytest.raises(InvalidQuery) as caught:
        step_condition(step, "steps.0", Params())
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


def test_step_names():
    assert step_condition({"event": "a"}, "s", Params())[0] == "a"
    assert step_condition({"page": "/p*", "name": "Pricing"}, "s", Params())[0] == "Pricing"


def test_dimensions():
    assert dimension("device", "breakdown", Params()) == ("device_type", "device_type")
    params = Params()
    column, sql = dimension("prop:plan", "breakdown", params)
    assert column == "properties" and "JSONExtractString" in sql
    assert "plan" in params.values.values()
    with pytest.raises(InvalidQuery):
        dimension("prop:", "breakdown", Params())
    with pytest.raises(InvalidQuery):
        dimension("password", "breakdown", Params())


def test_flags_and_integers():
    assert flag(None, "f") is False and flag("true", "f") and not flag("0", "f")
    with pytest.raises(InvalidQuery):
        flag("yes", "f")
    assert bounded_int(None, "n", 7, 1, 9) == 7 and bounded_int("3", "n", 7, 1, 9) == 3
    for bad in ("0", "10", "x", True, 2.5, "-1"):
        with pytest.raises(InvalidQuery):
            bounded_int(bad, "n", 7, 1, 9)


def test_a_page_without_wildcards_is_an_equality_and_a_pattern_a_regex():
    params = Params()
    _, literal = step_condition({"page": "/pricing"}, "s", params)
    _, pattern = step_condition({"page": "/pricing*"}, "s", params)
    assert literal == "((type = 'page' AND path = {p0:String}))"
    assert params.values["p0"] == "/pricing" and "match(path, {re1:String})" in pattern
