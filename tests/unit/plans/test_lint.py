"""``plan lint``: naming rules over many names, and plan mistakes."""

from __future__ import annotations

import pytest

from pipeline.plans.lint import event_name_findings, lint, property_name_finding
from schemas.plans import NamingRules, plan_from_object

KISSMETRICS = NamingRules()  # past-tense verb then object, Title Case, snake_case properties
SEGMENT = NamingRules(event_form="object_action")

GOOD_VERB_OBJECT = [
    "Viewed Pricing",
    "Submitted Form",
    "Added to Cart",
    "Removed from Cart",
    "Started Checkout",
    "Completed Purchase",
    "Created Project",
    "Invited Team Member",
    "Sent Message",
    "Paid Invoice",
    "Bought Gift Card",
    "Signed Up",
    "Logged In",
    "Viewed 3D Model",
    "Made a Payment",
]
BAD_VERB_OBJECT = {
    "signup": {"event_case", "event_form"},
    "Sign Up": {"verb_tense"},
    "user_registered": {"event_case", "event_form"},
    "viewed pricing": {"event_case"},
    "Viewed pricing": {"event_case"},
    "View Pricing": {"verb_tense"},
    "Pricing Viewed": {"verb_tense"},
    "Viewed  Pricing": {"event_case"},
    "Viewed-Pricing": {"event_case", "event_form"},
    "Completed": {"event_form"},
    "Add To Cart": {"verb_tense"},
    "Added To cart": {"event_case"},
    "": {"event_name"},
}
GOOD_OBJECT_ACTION = ["Order Completed", "Product Added", "Checkout Started", "Email Sent"]
BAD_OBJECT_ACTION = {"Completed Order": {"verb_tense"}, "Order Complete": {"verb_tense"}}


def found(name, naming):
    return {rule for rule, _ in event_name_findings(name, naming)}


@pytest.mark.parametrize("name", GOOD_VERB_OBJECT)
def test_kissmetrics_names_pass(name):
    assert found(name, KISSMETRICS) == set()


@pytest.mark.parametrize(("name", "rules"), BAD_VERB_OBJECT.items())
def test_kissmetrics_names_that_break_rules(name, rules):
    assert found(name, KISSMETRICS) == rules


@pytest.mark.parametrize("name", GOOD_OBJECT_ACTION)
def test_object_action_names_pass(name):
    assert found(name, SEGMENT) == set()


@pytest.mark.parametrize(("name", "rules"), BAD_OBJECT_ACTION.items())
def test_object_action_names_that_break_rules(name, rules):
    assert found(name, SEGMENT) == rules


def test_snake_case_events_and_any_form():
    naming = NamingRules(event_case="snake", event_form="any", verb_tense="any")
    assert found("user_registered", naming) == set()
    assert found("User Registered", naming) == {"event_case"}
    assert found("anything goes", NamingRules(event_case="any", event_form="any")) == set()


@pytest.mark.parametrize(
    ("name", "case", "ok"),
    [
        ("plan", "snake", True),
        ("plan_type", "snake", True),
        ("utm_source2", "snake", True),
        ("planType", "snake", False),
        ("Plan", "snake", False),
        ("plan__type", "snake", False),
        ("_plan", "snake", False),
        ("plan-type", "snake", False),
        ("planType", "camel", True),
        ("plan_type", "camel", False),
        ("PlanType", "any", True),
    ],
)
def test_property_names(name, case, ok):
    assert (property_name_finding(name, NamingRules(property_case=case)) is None) is ok


def test_lint_a_whole_plan():
    plan = plan_from_object(
        {
            "events": [
                {"name": "Signed Up", "properties": {"planType": {"type": "string"}}},
                {"name": "Signed Up"},
                {"name": "sign_up"},
                {
                    "name": "Paid Invoice",
                    "properties": {
                        "amount": {"type": "number", "minimum": 5, "maximum": 1},
                        "code": {"type": "string", "pattern": "(["},
                        "flag": {"type": "boolean", "minimum": 0},
                    },
                },
            ],
            "traits": {"Email": {"type": "string"}},
        }
    )
    findings = {(f.where, f.rule) for f in lint(plan)}
    assert findings == {
        ("event 'Signed Up' property 'planType'", "property_case"),
        ("event 'Signed Up'", "duplicate"),
        ("event 'sign_up'", "event_case"),
        ("event 'sign_up'", "event_form"),
        ("event 'Paid Invoice' property 'amount'", "range"),
        ("event 'Paid Invoice' property 'code'", "pattern"),
        ("event 'Paid Invoice' property 'flag'", "range"),
        ("trait 'Email'", "property_case"),
    }


def test_a_clean_plan_has_no_findings():
    from tests.factories import sample_plan

    assert lint(sample_plan()) == []
