"""Which events rules pick, and how filters read."""

from __future__ import annotations

import pytest

from pipeline.notify.config import ConfigError, Destination, Rule, parse_filter, rule_from
from pipeline.notify.rules import ProjectRules, compile_filter
from schemas.records import EnrichedEvent


def event(**fields) -> EnrichedEvent:
    base = {"event_id": "e1", "project_id": "p", "type": "track", "event": "signup",
            "timestamp": 1, "received_at": 1}  # fmt: skip
    return EnrichedEvent(**{**base, **fields})


@pytest.mark.parametrize(
    ("text", "fields", "picked"),
    [
        ("revenue_amount > 100", {"revenue_amount": 150.0}, True),
        ("revenue_amount > 100", {"revenue_amount": 100.0}, False),
        ("revenue_amount > 100", {}, False),  # no value never matches
        ("plan = 'pro'", {"properties": {"plan": "pro"}}, True),
        ("properties.plan != pro", {"properties": {"plan": "free"}}, True),
        ("seats >= 10", {"properties": {"seats": "12"}}, True),
        ("seats >= 10", {"properties": {"seats": "many"}}, False),
        ("country = DE", {"country": "DE"}, True),
    ],
)
def test_a_filter_compares_columns_and_properties(text, fields, picked):
    assert compile_filter(text)(event(**fields)) is picked


@pytest.mark.parametrize("text", ["revenue >>> 1", "> 1", "a ~ b", "a = b c"])
def test_a_malformed_filter_is_refused_naming_the_field(text):
    with pytest.raises(ConfigError) as caught:
        parse_filter(text)
    assert caught.value.field == "filter"


def test_default_rule_and_rules_pick_each_destination_once():
    hooks = [
        Destination("p", "d1", "a", "webhook"),
        Destination("p", "d2", "b", "slack", all_notify=False),
    ]
    rules = [
        Rule("p", "r1", "d2", "match", event_pattern="purchase*", filter="revenue_amount > 100"),
        Rule("p", "r2", "", "notify", channel="ops"),
        Rule("p", "r3", "", "threshold", event_pattern="error*", threshold=3),
    ]
    project = ProjectRules(hooks, rules)
    assert project.destinations_for(event(notify=True)) == [("d1", "default")]
    assert project.destinations_for(event(notify=True, channel="ops")) == [
        ("d1", "default"), ("d2", "r2")
    ]  # fmt: skip
    assert project.destinations_for(event(event="purchase", revenue_amount=101.0)) == [("d2", "r1")]
    assert project.destinations_for(event(event="purchase", revenue_amount=99.0)) == []
    assert project.destinations_for(event(event="error_x")) == []  # thresholds count elsewhere


def test_a_threshold_rule_needs_a_threshold():
    with pytest.raises(ConfigError):
        rule_from("p", {"kind": "threshold"})
    assert rule_from("p", {"kind": "threshold", "threshold": 5}).window_seconds == 300
