"""Plan documents: YAML and JSON read the same; what cannot be used is refused with the field."""

from __future__ import annotations

import pytest

from pipeline.plans.document import PlanError, dump_yaml, read_plan

YAML = b"""
mode: block_unplanned
events:
  - name: Signed Up
    owner: growth
    properties:
      plan: {type: string, required: true, enum: [free, pro]}
traits:
  email: {type: string, pattern: "@"}
"""
JSON = (
    b'{"mode": "block_unplanned", "events": [{"name": "Signed Up", "owner": "growth", '
    b'"properties": {"plan": {"type": "string", "required": true, "enum": ["free", "pro"]}}}], '
    b'"traits": {"email": {"type": "string", "pattern": "@"}}}'
)


def test_yaml_and_json_are_the_same_plan_and_yaml_round_trips():
    plan = read_plan(YAML)
    assert plan == read_plan(JSON)
    assert plan.events[0].properties["plan"].enum == ["free", "pro"]
    assert read_plan(dump_yaml(plan)) == plan


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (b"mode: strict", "mode", "strict"),
        (
            b"events: [{name: A B, properties: {x: {type: text}}}]",
            "events[0].properties[...].type",
            "text",
        ),
        (b"events: [{name: A B, colour: red}]", "events[0]", "colour"),
        (b"events: [{name: A B}, {name: A B}]", "events[1].name", "twice"),
        (b"events: [{name: ' '}]", "events[0].name", "name"),
        (b"events: [{name: A B, properties: {x: {pattern: '(['}}}]", "pattern", "regular"),
        (b"- just\n- a list", None, "object"),
        (b"{not json", None, "JSON"),
        (b"[" * 50_000, None, "YAML"),
        (b"", None, "object"),
    ],
)
def test_refusals_name_the_field(text, field, words):
    with pytest.raises(PlanError) as caught:
        read_plan(text)
    assert caught.value.field == field
    assert words in caught.value.message
