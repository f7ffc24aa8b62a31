"""docs/operations.md lists every setting: one table row per field of ``Settings``, with its
environment variable and its default, so the configuration docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
ROW = re.compile(r"^\| `(TRACKHOUSE_[A-Z0-9_]+)` \| ([^|]*) \|", re.MULTILINE)


def documented() -> dict[str, str]:
    """Variable -> its default cell, from the tables of the Configuration section."""
    text = OPERATIONS.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = ROW.findall(section)
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a variable has two rows"
    return {name: cell.strip() for name, cell in rows}


def default_of(name: str) -> object:
    field = Settings.model_fields[name]
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def shown(value: object) -> str | None:
    """How the docs write a default; None for an empty one (the cell says "empty")."""
    if value in ("", [], None):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_every_setting_has_a_row_and_every_row_is_a_setting():
    variables = {f"TRACKHOUSE_{name.upper()}": name for name in Settings.model_fields}
    rows = documented()
    missing, unknown = set(variables) - set(rows), set(rows) - set(variables)
    assert not missing, f"not in docs/operations.md: {missing}"
    assert not unknown, f"not settings: {unknown}"


def test_every_documented_default_is_the_code_default():
    for variable, cell in documented().items():
        value = shown(default_of(variable[len("TRACKHOUSE_") :].lower()))
        if value is None:
            assert cell.startswith("empty"), (variable, cell)
        else:
            assert re.search(rf"`(\./)?{re.escape(value)}`", cell), (variable, cell, value)
