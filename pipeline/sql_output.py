"""``trackhouse sql`` output: a table for people, JSON / JSON lines / TSV for programs."""

from __future__ import annotations

from typing import IO, Any

import orjson


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (list, tuple, dict)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def _tsv_field(value: Any) -> str:
    """ClickHouse's TabSeparated escaping: backslash, tab and newline escaped; NULL is \\N."""
    if value is None:
        return "\\N"
    return _text(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write_result(columns: list[str], rows: list[list[Any]], output: str, out: IO[str]) -> None:
    """Write one query result to ``out`` in ``output`` format (table, json, jsonl or tsv)."""
    if output == "json":
        out.write(orjson.dumps({"columns": columns, "rows": rows}, default=str).decode() + "\n")
    elif output == "jsonl":
        for row in rows:
            out.write(orjson.dumps(dict(zip(columns, row, strict=True)), default=str).decode())
            out.write("\n")
    elif output == "tsv":
        out.write("\t".join(_tsv_field(c) for c in columns) + "\n")
        for row in rows:
            out.write("\t".join(_tsv_field(v) for v in row) + "\n")
    elif output == "table":
        _write_table(columns, rows, out)
    else:
        raise ValueError(f"unknown output format {output!r}")


def _write_table(columns: list[str], rows: list[list[Any]], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, caption=f"{len(rows)} row{'' if len(rows) == 1 else 's'}")
    for row in rows:
        table.add_row(*(_text(v) for v in row))
    Console(file=out, highlight=False, markup=False, emoji=False).print(table)
