"""Conditions on single events shared by the analytics queries: a step or goal (an event name or
a page-path pattern) with property filters, and breakdown dimensions. Each builder returns SQL
over the columns of ``resolved.source`` and binds its values as query parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline.query.invalid import InvalidQuery

# Breakdown (and retention/funnel dimension) names -> event columns.
DIMENSIONS = {
    "browser": "browser",
    "browser_version": "browser_version",
    "os": "os",
    "os_version": "os_version",
    "device": "device_type",
    "device_type": "device_type",
    "country": "country",
    "region": "region",
    "city": "city",
    "referrer_domain": "referrer_domain",
    "source": "referrer_domain",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
    "channel": "channel",
    "locale": "locale",
    "path": "path",
}
PROP_PREFIX = "prop:"
_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")


def glob_regex(pattern: str) -> str:
    """A page pattern -> an anchored RE2 regex: ``**`` any characters, ``*`` any characters but
    ``/`` (Plausible's page goals); everything else literal."""
    parts = re.split(r"(\*\*|\*)", pattern)
    body = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part) for part in parts
    )
    return f"^{body}$"


class Params:
    """Named query parameters, numbered as they are added."""

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(initial or {})

    def add(self, prefix: str, value: Any, type_: str) -> str:
        name = f"{prefix}{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


def property_condition(key: Any, value: Any, field: str, params: Params) -> str:
    """``properties[key] == value`` for a string, number or boolean value."""
    if not isinstance(key, str) or not _NAME.match(key):
        raise InvalidQuery(field, "a property name is 1-200 printable characters")
    k = params.add("k", key, "String")
    if isinstance(value, bool):
        v = params.add("v", int(value), "UInt8")
        return f"(JSONType(properties, {k}) = 'Bool' AND JSONExtractBool(properties, {k}) = {v})"
    if isinstance(value, int | float):
        v = params.add("v", float(value), "Float64")
        return (
            f"(JSONType(properties, {k}) IN ('Int64', 'UInt64', 'Double') "
            f"AND JSONExtractFloat(properties, {k}) = {v})"
        )
    if isinstance(value, str):
        v = params.add("v", value, "String")
        return (
            f"(JSONType(properties, {k}) = 'String' AND JSONExtractString(properties, {k}) = {v})"
        )
    raise InvalidQuery(f"{field}.{key}", "must be a string, number or boolean")


def step_condition(step: Any, field: str, params: Params) -> tuple[str, str]:
    """A step ``{"event": name} | {"page": pattern}`` with optional ``filters`` and ``name``
    -> (its display name, its SQL condition)."""
    if not isinstance(step, dict):
        raise InvalidQuery(field, 'must be an object: {"event": name} or {"page": pattern}')
    unknown = set(step) - {"event", "page", "filters", "name"}
    if unknown:
        raise InvalidQuery(f"{field}.{sorted(unknown)[0]}", "unknown key")
    if ("event" in step) == ("page" in step):
        raise InvalidQuery(field, 'needs exactly one of "event" or "page"')
    if "event" in step:
        event = step["event"]
        if not isinstance(event, str) or not _NAME.match(event):
            raise InvalidQuery(f"{field}.event", "must be an event name (1-200 characters)")
        name, sql = event, f"event = {params.add('e', event, 'String')}"
    else:
        page = step["page"]
        if not isinstance(page, str) or not _NAME.match(page):
            raise InvalidQuery(f"{field}.page", "must be a path pattern like /pricing*")
        if "*" in page:
            regex = params.add("re", glob_regex(page), "String")
            name, sql = page, f"(type = 'page' AND match(path, {regex}))"
        else:  # the same rows as its anchored regex, for a fraction of the CPU
            name, sql = page, f"(type = 'page' AND path = {params.add('p', page, 'String')})"
    filters = step.get("filters", {})
    if not isinstance(filters, dict):
        raise InvalidQuery(f"{field}.filters", 'must be an object {"property": value}')
    parts = [sql] + [
        property_condition(k, v, f"{field}.filters", params) for k, v in filters.items()
    ]
    label = step.get("name", name)
    if not isinstance(label, str):
        raise InvalidQuery(f"{field}.name", "must be a string")
    return label, "(" + " AND ".join(parts) + ")"


def dimension(name: Any, field: str, params: Params) -> tuple[str, str]:
    """A breakdown dimension -> (its column, its SQL): an event column or ``prop:<name>``."""
    if isinstance(name, str) and name.startswith(PROP_PREFIX) and len(name) > len(PROP_PREFIX):
        k = params.add("k", name[len(PROP_PREFIX) :], "String")
        return "properties", f"JSONExtractString(properties, {k})"
    if not isinstance(name, str) or name not in DIMENSIONS:
        raise InvalidQuery(field, f"must be one of {', '.join(DIMENSIONS)} or prop:<name>")
    column = DIMENSIONS[name]
    return column, column


def flag(value: Any, field: str, default: bool = False) -> bool:
    """A boolean from JSON or a query string (``true|false|1|0``)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise InvalidQuery(field, "must be true or false")


def bounded_int(value: Any, field: str, default: int, low: int, high: int) -> int:
    """An integer between ``low`` and ``high`` from JSON or a query string."""
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidQuery(field, f"must be an integer from {low} to {high}")
    return value
