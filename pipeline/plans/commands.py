"""``trackhouse plan ...``: push, pull, lint, diff, schema, infer, report.

Built by ``plan_group(open_clickhouse)``: the top-level CLI passes how to open the data dir's
ClickHouse (locked, as every command of the embedded engine; the server must be stopped), so
this module stays below it. ``lint``, ``schema FILE`` and ``diff A B`` need no ClickHouse.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click
import orjson

from pipeline.plans import store
from pipeline.plans.diff import diff_plans
from pipeline.plans.document import PlanError, dump_yaml, plan_document, read_plan
from pipeline.plans.infer import infer_plan
from pipeline.plans.lint import lint
from pipeline.plans.report import build_report
from pipeline.plans.schema import plan_schema
from schemas.plans import TrackingPlan

Opener = Callable[[Path | None], AbstractContextManager[Any]]
_SINCE = re.compile(r"^(\d+)([dhms])$")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}


def _emit(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def _read(path: Path) -> TrackingPlan:
    try:
        return read_plan(path.read_bytes())
    except PlanError as exc:
        where = f" (at {exc.field})" if exc.field else ""
        raise click.ClickException(f"{path}: {exc.message}{where}") from None


def _since_ms(text: str) -> int:
    match = _SINCE.match(text)
    if not match:
        raise click.BadParameter("a duration such as 7d, 12h, 30m or 90s", param_hint="--since")
    return int(time.time() * 1000) - int(match.group(1)) * _UNIT_MS[match.group(2)]


def _write_plan(plan: TrackingPlan, output: str, to: Path | None) -> None:
    if output == "json":
        text = orjson.dumps(plan_document(plan), option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        text = dump_yaml(plan)
    if to is None:
        sys.stdout.write(text)
    else:
        to.write_text(text)


def plan_group(open_clickhouse: Opener, data_dir_option: Callable[[Any], Any]) -> click.Group:
    @click.group("plan")
    def plan() -> None:
        """Tracking plans: the events and properties a project sends, enforced by the pipeline
        (docs/tracking-plans.md)."""

    project = click.option("--project", "project_id", required=True, help="The project id.")
    fmt = click.option(
        "--format", "output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
    )

    @plan.command("push")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @project
    @data_dir_option
    def push(file: Path, project_id: str, data_dir: Path | None) -> None:
        """Store FILE (YAML or JSON) as the project's next plan version; prints the version and
        the lint findings (they do not refuse the plan)."""
        plan_ = _read(file)
        with open_clickhouse(data_dir) as clickhouse:
            stored = store.save_plan(clickhouse, project_id, plan_)
        findings = [finding.as_json() for finding in lint(stored)]
        _emit({"project_id": project_id, "version": stored.version, "mode": stored.mode,
               "lint": findings})  # fmt: skip

    @plan.command("pull")
    @project
    @click.option("--version", type=int, default=None, help="An older version.")
    @click.option("-o", "--output-file", type=click.Path(path_type=Path), default=None)
    @fmt
    @data_dir_option
    def pull(
        project_id: str,
        version: int | None,
        output_file: Path | None,
        output: str,
        data_dir: Path | None,
    ) -> None:
        """Print (or write) the project's plan."""
        with open_clickhouse(data_dir) as clickhouse:
            found = store.load_plan(clickhouse, project_id, version)
        if found is None:
            raise click.ClickException(f"{project_id} has no tracking plan")
        _write_plan(found, output, output_file)

    @plan.command("lint")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def lint_command(file: Path) -> None:
        """Check FILE against its own naming rules; exits 1 when anything is found."""
        findings = lint(_read(file))
        for finding in findings:
            click.echo(f"{finding.where}: {finding.rule}: {finding.message}")
        if findings:
            raise SystemExit(1)
        click.echo(f"{file}: ok", err=True)

    @plan.command("diff")
    @click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.argument("new", required=False, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--project", "project_id", default=None, help="OLD is this project's plan.")
    @data_dir_option
    def diff(old: Path, new: Path | None, project_id: str | None, data_dir: Path | None) -> None:
        """What changes from OLD to NEW (two files), or from the project's stored plan to
        FILE (``plan diff FILE --project P``). One line per change: + added, - removed,
        ~ changed."""
        if new is None:
            if project_id is None:
                raise click.UsageError("give two files, or one file and --project")
            with open_clickhouse(data_dir) as clickhouse:
                before = store.load_plan(clickhouse, project_id) or TrackingPlan()
            after = _read(old)
        else:
            before, after = _read(old), _read(new)
        for sign, what, detail in diff_plans(before, after):
            click.echo(f"{sign} {what}" + (f": {detail}" if detail else ""))

    @plan.command("schema")
    @click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
    @click.option("--project", "project_id", default=None, help="The project's stored plan.")
    @data_dir_option
    def schema(file: Path | None, project_id: str | None, data_dir: Path | None) -> None:
        """The plan (FILE, or the project's) as JSON Schema of a native event, for services
        that validate before they publish."""
        if file is not None:
            found: TrackingPlan | None = _read(file)
        elif project_id is not None:
            with open_clickhouse(data_dir) as clickhouse:
                found = store.load_plan(clickhouse, project_id)
        else:
            raise click.UsageError("give a FILE or --project")
        if found is None:
            raise click.ClickException(f"{project_id} has no tracking plan")
        _emit(plan_schema(found))

    @plan.command("infer")
    @project
    @click.option("--days", type=click.IntRange(1, 36_500), default=30, show_default=True)
    @click.option("-o", "--output-file", type=click.Path(path_type=Path), default=None)
    @fmt
    @data_dir_option
    def infer(
        project_id: str, days: int, output_file: Path | None, output: str, data_dir: Path | None
    ) -> None:
        """Draft a plan from the events stored in the last DAYS days (events, property types,
        required when always sent, identify traits)."""
        with open_clickhouse(data_dir) as clickhouse:
            drafted = infer_plan(clickhouse, project_id, days)
        _write_plan(drafted, output, output_file)

    @plan.command("report")
    @project
    @click.option("--since", default="7d", show_default=True, help="7d, 12h, 30m, 90s")
    @click.option(
        "--format",
        "output",
        type=click.Choice(["auto", "table", "json"]),
        default="auto",
        show_default=True,
        help="auto: a table at a terminal, else JSON.",
    )
    @click.option(
        "--max-violation-rate",
        type=click.FloatRange(0, 1),
        default=None,
        help="Exit 1 when the share of events that broke a rule is above this (CI).",
    )
    @data_dir_option
    def report(
        project_id: str,
        since: str,
        output: str,
        max_violation_rate: float | None,
        data_dir: Path | None,
    ) -> None:
        """Per event: volume, violation rate, rules broken, planned properties never sent,
        unplanned and new event names."""
        from pipeline.sql_output import write_result

        since_ms = _since_ms(since)
        with open_clickhouse(data_dir) as clickhouse:
            found = store.load_plan(clickhouse, project_id)
            result = build_report(clickhouse, project_id, found, since_ms)
        if output == "auto":
            output = "table" if sys.stdout.isatty() else "json"
        if output == "json":
            _emit(result.as_json())
        else:
            columns, rows = result.table()
            write_result(columns, rows, "table", sys.stdout)
            click.echo(
                f"{project_id}: plan v{result.plan_version}, {result.volume} events since "
                f"{since}, violation rate {result.violation_rate:.2%}"
            )
        if max_violation_rate is not None and result.violation_rate > max_violation_rate:
            click.echo(
                f"violation rate {result.violation_rate:.2%} is above {max_violation_rate:.2%}",
                err=True,
            )
            raise SystemExit(1)

    return plan
