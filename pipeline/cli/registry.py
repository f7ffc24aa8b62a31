"""`trackhouse projects | keys | goals`: projects, their keys, time zones and goals."""

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


@main.group()
def projects() -> None:
    """Manage projects and their keys."""


def _retention_options(function: Any) -> Any:
    for option in (
        click.option(
            "--anonymous-retention-days",
            type=click.IntRange(0, 36_500),
            default=None,
            help="Purge never-identified visitors' events and sessions after N days (0 = keep).",
        ),
        click.option(
            "--retention-days",
            type=click.IntRange(0, 36_500),
            default=None,
            help="Purge every event and session after N days (0 = keep).",
        ),
    ):
        function = option(function)
    return function


@projects.command("create")
@click.argument("name")
@_retention_options
@data_dir_option
def projects_create(
    name: str,
    anonymous_retention_days: int | None,
    retention_days: int | None,
    data_dir: Path | None,
) -> None:
    """Create a project; prints its id, its keys and its retention policy as JSON. Retention
    is off unless set here or later with `projects retention`."""
    from pipeline.registry.policies import set_retention
    from pipeline.registry.projects import ProjectRegistry

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        clickhouse = _clickhouse(settings)
        created = ProjectRegistry(clickhouse).create(name)
        policy = _default_policy(settings)
        if anonymous_retention_days is not None or retention_days is not None:
            policy = set_retention(
                clickhouse, created.project_id, anonymous_retention_days, retention_days, policy
            )
    out = {
        "project_id": created.project_id,
        "name": created.name,
        "write_key": created.write_key,
        "secret_key": created.secret_key,
        "anonymous_retention_days": policy.anonymous_retention_days,
        "retention_days": policy.retention_days,
    }
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@projects.command("list")
@data_dir_option
def projects_list(data_dir: Path | None) -> None:
    """Projects with their active key count and retention policy, as JSON."""
    from pipeline.registry.policies import list_projects

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        found = list_projects(_clickhouse(settings), _default_policy(settings))
    sys.stdout.write(orjson.dumps({"projects": [p.to_json() for p in found]}).decode() + "\n")


@projects.command("retention")
@click.argument("project_id")
@_retention_options
@data_dir_option
def projects_retention(
    project_id: str,
    anonymous_retention_days: int | None,
    retention_days: int | None,
    data_dir: Path | None,
) -> None:
    """Set a project's retention policy (an option not given keeps its value); prints it.
    E.g. the 90-day rule for anonymous visitors: --anonymous-retention-days 90."""
    from pipeline.registry.policies import set_retention

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        try:
            policy = set_retention(
                _clickhouse(settings),
                project_id,
                anonymous_retention_days,
                retention_days,
                _default_policy(settings),
            )
        except KeyError:
            raise click.ClickException(f"no project {project_id}") from None
    out = {
        "project_id": project_id,
        "anonymous_retention_days": policy.anonymous_retention_days,
        "retention_days": policy.retention_days,
    }
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@main.group()
def keys() -> None:
    """List, revoke and rotate project keys (embedded engine: while the server is stopped)."""


def _registry(settings: Settings):
    from pipeline.registry.projects import ProjectRegistry

    return ProjectRegistry(_clickhouse(settings))


def _key_json(info: Any) -> dict[str, Any]:
    return {
        "project_id": info.project_id,
        "name": info.name,
        "kind": info.kind,
        "prefix": info.prefix,
        "created_at": str(info.created_at),
        "revoked": bool(info.revoked),
    }


@keys.command("list")
@click.argument("project_id", required=False)
@data_dir_option
def keys_list(project_id: str | None, data_dir: Path | None) -> None:
    """Keys (prefix, kind, revoked) of one project, or of all; never the keys themselves."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        found = _registry(settings).keys(project_id)
    sys.stdout.write(orjson.dumps({"keys": [_key_json(k) for k in found]}).decode() + "\n")


@keys.command("revoke")
@click.argument("key_or_prefix")
@data_dir_option
def keys_revoke(key_or_prefix: str, data_dir: Path | None) -> None:
    """Revoke a key, given in full or by the prefix `keys list` shows."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        revoked = _registry(settings).revoke(key_or_prefix)
    if not revoked:
        raise click.ClickException("no active key matches")
    sys.stdout.write(orjson.dumps({"revoked": [_key_json(k) for k in revoked]}).decode() + "\n")


@keys.command("rotate")
@click.argument("project_id")
@click.option("--kind", type=click.Choice(["write", "secret"]), default="write")
@data_dir_option
def keys_rotate(project_id: str, kind: str, data_dir: Path | None) -> None:
    """Issue a new key of KIND for the project and revoke its other keys of that kind."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        try:
            key, revoked = _registry(settings).rotate(project_id, kind)  # type: ignore[arg-type]
        except KeyError:
            raise click.ClickException(f"no project {project_id}") from None
    out = {"project_id": project_id, "kind": kind, "key": key, "revoked": len(revoked)}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@main.group()
def goals() -> None:
    """A project's goals for the stats API (event names or page path patterns); embedded
    engine: while the server is stopped (the running server has /api/v1/goals)."""


def _goal_registry(settings: Settings):
    from pipeline.registry.goals import GoalRegistry

    return GoalRegistry(_clickhouse(settings))


def _echo_json(out: Any) -> None:
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


@goals.command("list")
@click.option("--project", "project_id", required=True, help="Project id (prj_...).")
@data_dir_option
def goals_list(project_id: str, data_dir: Path | None) -> None:
    """The project's goals as JSON."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        found = _goal_registry(settings).list(project_id)
    _echo_json({"goals": [g.to_json() for g in found]})


@goals.command("add")
@click.option("--project", "project_id", required=True, help="Project id (prj_...).")
@click.option("--event", "event_name", default=None, help="A custom event's name.")
@click.option("--page", "page_path", default=None, help="A page path pattern (* and **).")
@click.option("--name", "display_name", default=None, help="Display name (default: derived).")
@click.option("--currency", default=None, help="ISO 4217 code: a revenue goal (events only).")
@data_dir_option
def goals_add(project_id: str, event_name: str | None, page_path: str | None,
              display_name: str | None, currency: str | None,
              data_dir: Path | None) -> None:  # fmt: skip
    """Add a goal (exactly one of --event and --page); prints it."""
    from pipeline.registry.goals import GoalError

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        try:
            goal = _goal_registry(settings).add(
                project_id, event_name, page_path, display_name, currency
            )
        except GoalError as exc:
            raise click.ClickException(str(exc)) from None
    _echo_json(goal.to_json())


@goals.command("delete")
@click.argument("goal")
@click.option("--project", "project_id", required=True, help="Project id (prj_...).")
@data_dir_option
def goals_delete(goal: str, project_id: str, data_dir: Path | None) -> None:
    """Delete a goal, by id or display name."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        found = _goal_registry(settings).delete(project_id, goal)
    if found is None:
        raise click.ClickException(f"no goal {goal} in {project_id}")
    _echo_json({"deleted": found.to_json()})


@projects.command("timezone")
@click.argument("project_id")
@click.argument("timezone")
@data_dir_option
def projects_timezone(project_id: str, timezone: str, data_dir: Path | None) -> None:
    """Set the time zone (IANA name, e.g. Europe/Berlin) the stats API's date ranges and time
    buckets use for the project (default UTC)."""
    from pipeline.registry.timezones import set_timezone

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        try:
            set_timezone(_clickhouse(settings), project_id, timezone)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    _echo_json({"project_id": project_id, "timezone": timezone})
