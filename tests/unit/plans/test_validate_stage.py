"""The validate stage: each rule, each mode, and events the plan does not concern."""

from __future__ import annotations

import pytest

from pipeline.stages.validate import BlockedByPlan, blocked, compile_plan, validate
from tests.factories import enriched, sample_plan


def rules(event, plan):
    return sorted((v.rule, v.property) for v in validate(event, compile_plan(plan)))


def test_a_valid_event_has_no_violations():
    event = enriched(event="Signed Up", properties={"plan": "pro", "seats": 3, "x": 1})
    assert rules(event, sample_plan()) == []


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({}, [("missing_property", "plan")]),
        ({"plan": "gold"}, [("not_in_enum", "plan")]),
        ({"plan": 1}, [("wrong_type", "plan")]),
        ({"plan": "pro", "seats": 0}, [("below_minimum", "seats")]),
        ({"plan": "pro", "seats": 501}, [("above_maximum", "seats")]),
        ({"plan": "pro", "seats": 2.5}, [("wrong_type", "seats")]),
        ({"plan": "pro", "seats": True}, [("wrong_type", "seats")]),
        ({"plan": "pro", "referral_code": "abc-1"}, [("pattern_mismatch", "referral_code")]),
    ],
)
def test_each_property_rule(properties, expected):
    assert rules(enriched(event="Signed Up", properties=properties), sample_plan()) == expected


def test_integer_accepts_a_whole_float_as_json_schema_does():
    event = enriched(event="Signed Up", properties={"plan": "pro", "seats": 2.0})
    assert rules(event, sample_plan()) == []


def test_event_rules():
    plan = sample_plan()
    assert rules(enriched(event="Signed up"), plan) == [("unplanned_event", "")]
    assert rules(enriched(event="Exported Report"), plan) == [("deprecated_event", "")]
    closed = enriched(event="Viewed Pricing", properties={"source": "ad", "color": "red"})
    assert rules(closed, plan) == [("unexpected_property", "color")]


def test_identify_traits_are_checked_and_page_views_pass():
    plan = sample_plan()
    assert rules(enriched(type="identify", event="", traits={"email": "nope"}), plan) == [
        ("pattern_mismatch", "email")
    ]
    assert rules(enriched(type="identify", event="", traits={"email": "a@b"}), plan) == []
    assert rules(enriched(type="page", event="pageview", properties={"x": 1}), plan) == []


def test_a_violation_row_names_event_rule_expected_and_got():
    event = enriched(event="Signed Up", properties={"plan": "gold"}, received_at=1234)
    [row] = validate(event, compile_plan(sample_plan()))
    assert (row.project_id, row.event_id, row.event, row.at) == (
        event.project_id,
        event.event_id,
        "Signed Up",
        1234,
    )
    assert (row.rule, row.property, row.got) == ("not_in_enum", "plan", "gold")
    assert "'free'" in row.expected and "'pro'" in row.expected


@pytest.mark.parametrize(
    ("mode", "event", "blocks"),
    [
        ("observe", enriched(event="Nope"), False),
        ("observe", enriched(event="Signed Up"), False),
        ("block_unplanned", enriched(event="Nope"), True),
        ("block_unplanned", enriched(event="Signed Up"), False),  # invalid, but planned
        ("block_invalid", enriched(event="Nope"), True),
        ("block_invalid", enriched(event="Signed Up"), True),
        ("block_invalid", enriched(event="Signed Up", properties={"plan": "pro"}), False),
    ],
)
def test_modes(mode, event, blocks):
    plan = compile_plan(sample_plan(mode))
    assert blocked(plan, validate(event, plan)) is blocks


def test_blocked_reason_names_the_rules():
    plan = compile_plan(sample_plan("block_invalid"))
    reason = str(BlockedByPlan(validate(enriched(event="Signed Up"), plan)))
    assert reason == "blocked by tracking plan v0: missing_property(plan)"
