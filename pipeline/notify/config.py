"""Destinations and rules as the admin API and the CLI give them (validated here)."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("webhook", "slack", "discord", "email")
RULE_KINDS = ("notify", "match", "threshold")
FILTER = re.compile(
    r"^\s*([A-Za-z_$][\w.$]*)\s*(>=|<=|!=|=|>|<)\s*"
    r"(-?\d+(?:\.\d+)?|'[^']*'|\"[^\"]*\"|[\w.@-]+)\s*$"
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class ConfigError(ValueError):
    """A field of a destination or rule is wrong: ``field`` names it."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Destination:
    project_id: str
    destination_id: str
    name: str
    kind: str
    url: str = ""
    secret: str = ""
    email_to: str = ""
    all_notify: bool = True  # the default rule: every ``notify: true`` event comes here

    def to_json(self, show_secret: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not show_secret:
            out["secret"] = (self.secret[:6] + "…") if self.secret else ""
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    project_id: str
    rule_id: str
    destination_id: str  # '' = every destination of the project
    kind: str  # notify | match | threshold
    event_pattern: str = ""  # fnmatch pattern ('' = any)
    channel: str = ""
    filter: str = ""  # e.g. "revenue_amount > 100"
    threshold: int = 0  # threshold: more than this many matching events ...
    window_seconds: int = 300  # ... in this window ...
    cooldown_seconds: int = 900  # ... fires at most once per cool-down
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        return out


def _text(document: dict[str, Any], name: str, limit: int = 2000, required: bool = False) -> str:
    value = document.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise ConfigError(name, f"a string of at most {limit} characters")
    if required and not value:
        raise ConfigError(name, "required")
    return value


def _count(document: dict[str, Any], name: str, default: int, low: int = 0) -> int:
    value = document.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10**7:
        raise ConfigError(name, f"a whole number from {low}")
    return value


def destination_from(project_id: str, document: dict[str, Any]) -> Destination:
    kind = document.get("kind")
    if kind not in KINDS:
        raise ConfigError("kind", "one of " + ", ".join(KINDS))
    name = _text(document, "name", 200) or kind
    url = _text(document, "url")
    email_to = _text(document, "email_to", 500)
    if kind == "email":
        if not all(EMAIL.match(a.strip()) for a in email_to.split(",")):
            raise ConfigError("email_to", "comma-separated email addresses")
    elif not url.startswith(("http://", "https://")):
        raise ConfigError("url", "an http(s) URL")
    secret = _text(document, "secret", 200) or (
        "whsec_" + secrets.token_urlsafe(24) if kind == "webhook" else ""
    )
    all_notify = document.get("all_notify", True)
    if not isinstance(all_notify, bool):
        raise ConfigError("all_notify", "true or false")
    return Destination(
        project_id, "dst_" + secrets.token_hex(6), name, kind, url, secret, email_to, all_notify
    )


def parse_filter(text: str) -> tuple[str, str, Any] | None:
    """``"revenue_amount > 100"`` -> (field, operator, value); None for ''."""
    if not text:
        return None
    match = FILTER.match(text)
    if match is None:
        raise ConfigError("filter", "'<field> <op> <value>' with op one of > >= < <= = !=")
    name, op, raw = match.groups()
    raw = raw.strip()
    value: Any
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        value = raw[1:-1]
    else:
        try:
            value = float(raw)
        except ValueError:
            value = raw
    return name, op, value


def rule_from(project_id: str, document: dict[str, Any]) -> Rule:
    kind = document.get("kind", "match")
    if kind not in RULE_KINDS:
        raise ConfigError("kind", "one of " + ", ".join(RULE_KINDS))
    rule = Rule(
        project_id,
        "rul_" + secrets.token_hex(6),
        _text(document, "destination_id", 100),
        kind,
        _text(document, "event_pattern", 200),
        _text(document, "channel", 200),
        _text(document, "filter", 500),
        _count(document, "threshold", 0),
        _count(document, "window_seconds", 300, 1),
        _count(document, "cooldown_seconds", 900),
    )
    parse_filter(rule.filter)
    if kind == "threshold" and rule.threshold < 1:
        raise ConfigError("threshold", "a threshold rule needs threshold >= 1")
    if kind == "threshold" and rule.filter:
        raise ConfigError("filter", "threshold rules count by event_pattern and channel only")
    return rule
