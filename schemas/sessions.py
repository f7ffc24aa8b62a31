"""``record.session.v1``: one session as sessionize keeps it and the ``sessions`` table shows it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Session:
    """One session as the ``sessions`` table shows it; ``version`` grows with every change."""

    session_id: str
    project_id: str
    visitor_id: str
    start: int
    end: int
    events: int = 0
    pageviews: int = 0
    entry_path: str = ""
    entry_at: int = 0
    exit_path: str = ""
    exit_at: int = 0
    user_id: str = ""
    referrer: str = ""
    referrer_domain: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    browser: str = ""
    os: str = ""
    device_type: str = ""
    version: int = 0
    client_kept: bool = False  # the id came with the events (privacy-dashboard sessionId)

    @property
    def duration_ms(self) -> int:
        return self.end - self.start

    @property
    def is_bounce(self) -> bool:
        """A single-event session (one page view and nothing else)."""
        return self.events <= 1
