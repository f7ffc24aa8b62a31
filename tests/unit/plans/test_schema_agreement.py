"""The compiled validator and the plan's exported JSON Schema agree, with the ``jsonschema``
package as the reference: on random plans and random events, an event is valid by the schema
exactly when the validate stage finds no violation."""

from __future__ import annotations

import jsonschema
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.plans.schema import plan_schema
from pipeline.stages.validate import compile_plan, validate
from schemas.plans import plan_from_object
from tests.factories import enriched

NAMES = ["Signed Up", "Viewed Pricing", "Added to Cart"]
KEYS = ["plan", "seats", "price", "code", "flag"]
PATTERNS = ["^[a-c]+$", "b", "^x?[0-9]{1,2}$", "^$"]
TYPES = ["string", "number", "integer", "boolean", "null", "any"]

# Small domains, so that enums, bounds and patterns often meet the values drawn (``True`` and
# ``1``, ``1`` and ``1.0`` are different and equal members in JSON Schema)
texts = st.text(alphabet="abx01", max_size=3)
numbers = st.integers(-2, 3) | st.floats(-3, 3, allow_nan=False, allow_infinity=False)
halves = st.integers(-6, 6).map(lambda n: n / 2)  # whole and half floats
scalars = st.none() | st.booleans() | texts | numbers | halves


@st.composite
def property_specs(draw):
    spec = {"type": draw(st.sampled_from(TYPES)), "required": draw(st.booleans())}
    if draw(st.booleans()):
        spec["enum"] = draw(st.lists(scalars, min_size=1, max_size=5))
    if draw(st.booleans()):
        spec["pattern"] = draw(st.sampled_from(PATTERNS))
    if draw(st.booleans()):
        spec["minimum"] = draw(st.integers(-3, 3))
    if draw(st.booleans()):
        spec["maximum"] = draw(st.integers(-3, 3) | halves)
    return spec


spec_maps = st.dictionaries(st.sampled_from(KEYS), property_specs(), max_size=3)


@st.composite
def plans(draw):
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
    events = [
        {"name": n, "properties": draw(spec_maps), "additional_properties": draw(st.booleans())}
        for n in names
    ]
    return plan_from_object({"events": events, "traits": draw(spec_maps)})


@st.composite
def events(draw):
    kind = draw(st.sampled_from(["track", "track", "identify", "page"]))
    values = st.dictionaries(st.sampled_from(KEYS), scalars, max_size=4)
    return {
        "type": kind,
        "event": draw(st.sampled_from([*NAMES, "Unplanned Thing"])),
        "properties": draw(values),
        "traits": draw(values),
    }


EDGES = plan_from_object(
    {
        "events": [
            {
                "name": "Signed Up",
                "properties": {
                    "flag": {"enum": [True, 2.0]},
                    "seats": {"type": "integer", "maximum": 2.5},
                    "code": {"pattern": "b", "minimum": 1},
                },
            }
        ]
    }
)
EDGE_EVENTS = [
    {"type": "track", "event": "Signed Up", "properties": properties, "traits": {}}
    for properties in (
        {"flag": 1},  # true is not 1
        {"flag": True},
        {"flag": 2},  # 2 is 2.0
        {"seats": 2.0},  # an integer
        {"seats": 3},
        {"seats": False},
        {"code": "abc", "flag": 2.0},
        {"code": 0},  # minimum applies to numbers, pattern to strings
        {"code": "a"},
    )
]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(), st.lists(events(), min_size=1, max_size=5))
@example(EDGES, EDGE_EVENTS)
def test_validator_agrees_with_json_schema(plan, documents):
    schema = plan_schema(plan)
    jsonschema.Draft202012Validator.check_schema(schema)
    reference = jsonschema.Draft202012Validator(schema)
    compiled = compile_plan(plan)
    for document in documents:
        event = enriched(**document)
        found = validate(event, compiled)
        errors = list(reference.iter_errors(document))
        assert (not found) == (not errors), (document, found, [e.message for e in errors])
