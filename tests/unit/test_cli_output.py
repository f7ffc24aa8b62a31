"""``trackhouse --version`` and the output formats of ``trackhouse sql``."""

from __future__ import annotations

import io
from importlib.metadata import version

import orjson
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.sql_output import write_result

COLUMNS = ["event", "n", "props"]
ROWS = [["Signed Up", 3, {"plan": "pro"}], ["tab\there [bold]x[/bold]", None, []]]


def render(output: str) -> str:
    out = io.StringIO()
    write_result(COLUMNS, ROWS, output, out)
    return out.getvalue()


def test_version_is_the_installed_distributions():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"trackhouse, version {version('trackhouse')}\n"


def test_json_is_one_object_with_columns_and_rows():
    assert orjson.loads(render("json")) == {"columns": COLUMNS, "rows": ROWS}


def test_jsonl_is_one_object_per_row():
    lines = [orjson.loads(line) for line in render("jsonl").splitlines()]
    assert lines == [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]


def test_tsv_escapes_like_clickhouse_tab_separated():
    assert render("tsv").splitlines() == [
        "event\tn\tprops",
        'Signed Up\t3\t{"plan":"pro"}',
        "tab\\there [bold]x[/bold]\t\\N\t[]",
    ]


def test_table_shows_every_cell_literally_and_counts_rows():
    text = render("table")
    for cell in ("event", "props", "Signed Up", '{"plan":"pro"}', "[bold]x[/bold]", "NULL"):
        assert cell in text, (cell, text)
    assert "2 rows" in text
    assert "│" in text  # box drawing: a table, not JSON
