"""``trackhouse plan lint``: a plan checked against its own naming rules (and for mistakes a
parser cannot see: duplicate events, bad regexes, min above max, enum values of the wrong type).

Event names, KISSmetrics' way by default: a past-tense verb and its object in Title Case
("Viewed Pricing", "Added to Cart", "Completed Purchase"); small words ("to", "from", "a",
"of"...) stay lower case. ``event_form: object_action`` wants the verb last ("Order
Completed", Segment's convention). Property and trait names: snake_case by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.plans import NamingRules, PropertySpec, TrackingPlan

SMALL_WORDS = frozenset(
    "a an and as at by for from in into of on or per the to up via vs with".split()  # noqa: SIM905
)
# Past tenses that do not end in -ed (the verbs tracking plans use).
IRREGULAR_PAST = frozenset(
    """began begun bought brought built came chose chosen did done drew drawn drove driven
    fed felt found forgot forgotten froze frozen gave given got gotten grew grown had heard
    held hid hidden hit kept knew known laid led left lent let lost made meant met paid put
    quit ran read rode rung said sat saw seen sent set shook shot showed shown shut sang sung
    slept sold spent split spoke spoken spread stood stole stuck struck swept swung taken
    taught thought threw thrown told took tore torn understood undid undone upheld wore won
    withdrew withdrawn wrote written""".split()  # noqa: SIM905
)
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9']*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
_PROPERTY_CASES = {"snake": _SNAKE, "camel": _CAMEL}


@dataclass(frozen=True, slots=True)
class Finding:
    where: str  # "event 'Signed Up'", "event 'Signed Up' property 'plan'", "traits 'email'"
    rule: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"where": self.where, "rule": self.rule, "message": self.message}


def is_past_tense(word: str) -> bool:
    lower = word.lower()
    return lower in IRREGULAR_PAST or (lower.endswith("ed") and len(lower) > 3)


def _case_findings(name: str, case: str) -> str | None:
    words = name.split(" ")
    if case == "title":
        if any(not _WORD.match(w) for w in words):
            return "words of letters and digits separated by single spaces"
        if not words[0][0].isupper() and not words[0][0].isdigit():
            return "Title Case: the first word is capitalised"
        for w in words[1:]:
            if w.lower() in SMALL_WORDS:
                if w != w.lower() and w != w.capitalize():
                    return f"Title Case: {w!r}"
            elif not (w[0].isupper() or w[0].isdigit()):
                return f"Title Case: {w!r} is capitalised"
        return None
    if case == "snake" and not _SNAKE.match(name):
        return "snake_case (lower case words joined by _)"
    if case == "camel" and not _CAMEL.match(name):
        return "camelCase"
    return None


def _words(name: str, case: str) -> list[str]:
    if case == "snake":
        return name.split("_")
    if case == "camel":
        return re.findall(r"[A-Z]?[a-z0-9]+", name)
    return name.split()


def event_name_findings(name: str, naming: NamingRules) -> list[tuple[str, str]]:
    """``(rule, message)`` for each naming rule ``name`` breaks."""
    out: list[tuple[str, str]] = []
    if not name.strip():
        return [("event_name", "an event needs a name")]
    problem = _case_findings(name, naming.event_case) if naming.event_case != "any" else None
    if problem:
        out.append(("event_case", f"{name!r}: {problem}"))
    words = [w for w in _words(name, naming.event_case) if w]
    if naming.event_form != "any" and len(words) < 2:
        out.append(("event_form", f"{name!r}: name an object and an action (two words or more)"))
        return out
    if naming.verb_tense == "past" and naming.event_form != "any":
        verb = words[0] if naming.event_form == "verb_object" else words[-1]
        if not is_past_tense(verb):
            where = "first" if naming.event_form == "verb_object" else "last"
            out.append(
                ("verb_tense", f"{name!r}: the {where} word is a past-tense verb, not {verb!r}")
            )
    return out


def property_name_finding(name: str, naming: NamingRules) -> str | None:
    pattern = _PROPERTY_CASES.get(naming.property_case)
    if pattern is not None and not pattern.match(name):
        return (
            f"{name!r}: {naming.property_case}_case"
            if naming.property_case == "snake"
            else (f"{name!r}: camelCase")
        )
    return None


def _spec_findings(where: str, spec: PropertySpec) -> list[Finding]:
    out: list[Finding] = []
    if spec.pattern is not None:
        try:
            re.compile(spec.pattern)
        except re.error as exc:
            out.append(Finding(where, "pattern", f"not a regular expression: {exc}"))
    if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
        out.append(Finding(where, "range", "minimum is above maximum"))
    if (spec.minimum is not None or spec.maximum is not None) and spec.type not in (
        "number", "integer", "any"
    ):  # fmt: skip
        out.append(Finding(where, "range", f"minimum/maximum on a {spec.type}"))
    if spec.pattern is not None and spec.type not in ("string", "any"):
        out.append(Finding(where, "pattern", f"a pattern on a {spec.type}"))
    if spec.enum is not None and not spec.enum:
        out.append(Finding(where, "enum", "an empty enum allows nothing"))
    return out


def lint(plan: TrackingPlan) -> list[Finding]:
    """Everything in ``plan`` that breaks its naming rules or cannot work."""
    naming, out, seen = plan.naming, [], set()
    for event in plan.events:
        where = f"event {event.name!r}"
        if event.name in seen:
            out.append(Finding(where, "duplicate", "planned twice"))
        seen.add(event.name)
        out.extend(
            Finding(where, rule, msg) for rule, msg in event_name_findings(event.name, naming)
        )
        for name, spec in event.properties.items():
            at = f"{where} property {name!r}"
            problem = property_name_finding(name, naming)
            if problem:
                out.append(Finding(at, "property_case", problem))
            out.extend(_spec_findings(at, spec))
    for name, spec in plan.traits.items():
        at = f"trait {name!r}"
        problem = property_name_finding(name, naming)
        if problem:
            out.append(Finding(at, "property_case", problem))
        out.extend(_spec_findings(at, spec))
    return out
