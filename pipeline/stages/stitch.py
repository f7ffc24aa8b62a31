"""Stage 4: tie visitors to users.

An event carrying both ``visitor_id`` and ``user_id`` (an ``identify``, or a server-side event
naming the visitor) links the visitor to the user. Later events of the visitor carry the user id;
earlier ones resolve to it through the ``identities`` table that queries join.

Rule for a visitor identified as two users: the first link wins. The visitor's history belongs
to the first user; a later event that names another user keeps that user id on itself, but the
visitor is not moved (PostHog refuses such merges the same way). A browser that logs out should
call ``reset()`` so the next person gets a fresh visitor id.

An event whose user id *is* its visitor id (PostHog's ``distinct_id`` from a server, which may
name a person or an anonymous id that is merged later) is the visitor's own provisional user: it
links nothing, and once the visitor is linked it takes the linked user. Reads do the same for
the rows stored before the link (``events_resolved``), so a merge is retroactive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.records import EnrichedEvent, FirstTouch, IdentityLink, UserUpdate


@dataclass(slots=True)
class VisitorIdentity:
    """Stitch state of one (project, visitor)."""

    user_id: str = ""
    linked_at: int = 0
    first_touch: FirstTouch | None = None

    @classmethod
    def from_dict(cls, data: dict) -> VisitorIdentity:
        touch = data.get("first_touch")
        return cls(
            user_id=data.get("user_id", ""),
            linked_at=data.get("linked_at", 0),
            first_touch=FirstTouch(**touch) if touch else None,
        )


@dataclass(slots=True)
class StitchResult:
    links: list[IdentityLink] = field(default_factory=list)
    user_updates: list[UserUpdate] = field(default_factory=list)
    conflict: bool = False
    state_changed: bool = False  # the visitor's identity state (most events leave it as it was)


def _first_touch(event: EnrichedEvent) -> FirstTouch:
    return FirstTouch(
        at=event.timestamp,
        landing_path=event.path,
        referrer=event.referrer,
        referrer_domain=event.referrer_domain,
        utm_source=event.utm_source,
        utm_medium=event.utm_medium,
        utm_campaign=event.utm_campaign,
        utm_term=event.utm_term,
        utm_content=event.utm_content,
    )


def stitch(
    state: VisitorIdentity | None, event: EnrichedEvent
) -> tuple[VisitorIdentity, StitchResult]:
    """Update the visitor's identity with ``event``; fill ``event.user_id`` when known."""
    state = state or VisitorIdentity()
    result = StitchResult()
    touch_changed = False
    if event.visitor_id and (state.first_touch is None or event.timestamp < state.first_touch.at):
        state.first_touch = _first_touch(event)
        touch_changed = True

    provisional = event.user_id == event.visitor_id
    if event.visitor_id and event.user_id and not provisional:
        if not state.user_id:
            state.user_id, state.linked_at = event.user_id, event.timestamp
            result.links.append(
                IdentityLink(event.project_id, event.visitor_id, event.user_id, event.timestamp)
            )
            touch_changed = True
        elif state.user_id != event.user_id:
            result.conflict = True
    elif event.visitor_id and state.user_id:
        event.user_id = state.user_id

    if event.user_id:
        linked_here = state.user_id == event.user_id
        result.user_updates.append(
            UserUpdate(
                project_id=event.project_id,
                user_id=event.user_id,
                seen_at=event.timestamp,
                # an identify without traits (a login) leaves the user's traits as they are
                traits=event.traits if event.type == "identify" and event.traits else None,
                first_touch=state.first_touch if linked_here and touch_changed else None,
            )
        )
    result.state_changed = touch_changed
    return state, result
