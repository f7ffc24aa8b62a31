"""``trackhouse plan diff``: what changed between two plans, one line per change."""

from __future__ import annotations

import msgspec

from schemas.plans import PropertySpec, TrackingPlan


def _props(
    where: str, old: dict[str, PropertySpec], new: dict[str, PropertySpec]
) -> list[tuple[str, str, str]]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None:
            out.append(("+", f"{where} property {name!r}", _spec(after)))
        elif after is None:
            out.append(("-", f"{where} property {name!r}", _spec(before)))
        elif before != after:
            out.append(("~", f"{where} property {name!r}", f"{_spec(before)} -> {_spec(after)}"))
    return out


def _spec(spec: PropertySpec | None) -> str:
    return msgspec.json.encode(spec).decode()


def diff_plans(old: TrackingPlan, new: TrackingPlan) -> list[tuple[str, str, str]]:
    """``(sign, what, detail)``: ``+`` added, ``-`` removed, ``~`` changed."""
    out: list[tuple[str, str, str]] = []
    if old.mode != new.mode:
        out.append(("~", "mode", f"{old.mode} -> {new.mode}"))
    if old.naming != new.naming:
        out.append(("~", "naming", f"{_spec(old.naming)} -> {_spec(new.naming)}"))  # type: ignore[arg-type]
    before = {event.name: event for event in old.events}
    after = {event.name: event for event in new.events}
    for name in [*before, *(n for n in after if n not in before)]:
        a, b = before.get(name), after.get(name)
        where = f"event {name!r}"
        if a is None:
            out.append(("+", where, f"{len(b.properties)} properties"))  # type: ignore[union-attr]
        elif b is None:
            out.append(("-", where, ""))
        else:
            for field in ("description", "owner", "status", "additional_properties"):
                if getattr(a, field) != getattr(b, field):
                    out.append(
                        ("~", f"{where} {field}", f"{getattr(a, field)!r} -> {getattr(b, field)!r}")
                    )
            out.extend(_props(where, a.properties, b.properties))
    out.extend(_props("traits", old.traits, new.traits))
    return out
