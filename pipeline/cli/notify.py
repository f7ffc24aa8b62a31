"""`trackhouse notify destinations|rules|deliveries|dead|replay` (embedded engine: while the
server is stopped; a running server has the admin API)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from pipeline.cli.base import (
    _clickhouse,
    _lock_data_dir,
    _settings,
    data_dir_option,
    main,
)
from pipeline.settings import Settings


@main.group()
def notify() -> None:
    """Notification destinations, rules, deliveries and dead letters (embedded engine: while
    the server is stopped; a running server has the admin API)."""


def _notify_store(settings: Settings):
    from pipeline.notify.store import NotifyStore

    return NotifyStore(_clickhouse(settings))


def _print(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document).decode() + "\n")


def _notify_call(data_dir: Path | None, job: Any) -> Any:
    from pipeline.notify.config import ConfigError

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        try:
            return job(_notify_store(settings))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


@notify.group("destinations")
def notify_destinations() -> None:
    """Where notifications go: webhook, slack, discord, email."""


@notify_destinations.command("list")
@click.argument("project_id", required=False)
@data_dir_option
def notify_destinations_list(project_id: str | None, data_dir: Path | None) -> None:
    found = _notify_call(data_dir, lambda store: store.destinations(project_id))
    _print({"destinations": [d.to_json() for d in found]})


@notify_destinations.command("add")
@click.argument("project_id")
@click.option("--kind", type=click.Choice(["webhook", "slack", "discord", "email"]), required=True)
@click.option("--url", default="", help="webhook, slack, discord: where to POST.")
@click.option("--email-to", default="", help="email: comma-separated addresses.")
@click.option("--secret", default="", help="webhook: signing secret (default: generated).")
@click.option("--name", default="")
@click.option("--no-default", is_flag=True, help="Not every notify:true event; rules only.")
@data_dir_option
def notify_destinations_add(
    project_id: str, no_default: bool, data_dir: Path | None, **fields: Any
) -> None:
    """Add a destination; prints it with its webhook signing secret (shown once)."""
    from pipeline.notify.config import destination_from

    def add(store: Any) -> Any:
        destination = destination_from(project_id, {**fields, "all_notify": not no_default})
        store.put_destination(destination)
        return destination

    _print(_notify_call(data_dir, add).to_json(show_secret=True))


@notify_destinations.command("remove")
@click.argument("project_id")
@click.argument("destination_id")
@data_dir_option
def notify_destinations_remove(project_id: str, destination_id: str, data_dir: Path | None) -> None:
    if not _notify_call(data_dir, lambda s: s.delete_destination(project_id, destination_id)):
        raise click.ClickException("no such destination")
    _print({"deleted": destination_id})


@notify.group("rules")
def notify_rules() -> None:
    """Which events notify: notify (notify:true), match (any event), threshold (a count)."""


@notify_rules.command("list")
@click.argument("project_id", required=False)
@data_dir_option
def notify_rules_list(project_id: str | None, data_dir: Path | None) -> None:
    _print({"rules": [r.to_json() for r in _notify_call(data_dir, lambda s: s.rules(project_id))]})


@notify_rules.command("add")
@click.argument("project_id")
@click.option("--kind", type=click.Choice(["notify", "match", "threshold"]), default="match")
@click.option("--event", "event_pattern", default="", help="Event name pattern (* and ?).")
@click.option("--channel", default="")
@click.option("--filter", "filter_", default="", help='e.g. "revenue_amount > 100".')
@click.option("--threshold", type=int, default=0, help="threshold: more than this many ...")
@click.option("--window", "window_seconds", type=int, default=300, help="... in these seconds.")
@click.option("--cooldown", "cooldown_seconds", type=int, default=900)
@click.option("--destination", "destination_id", default="", help="Default: every one.")
@data_dir_option
def notify_rules_add(project_id: str, filter_: str, data_dir: Path | None, **fields: Any) -> None:
    from pipeline.notify.config import rule_from

    def add(store: Any) -> Any:
        rule = rule_from(project_id, {**fields, "filter": filter_})
        store.put_rule(rule)
        return rule

    _print(_notify_call(data_dir, add).to_json())


@notify_rules.command("remove")
@click.argument("project_id")
@click.argument("rule_id")
@data_dir_option
def notify_rules_remove(project_id: str, rule_id: str, data_dir: Path | None) -> None:
    if not _notify_call(data_dir, lambda s: s.delete_rule(project_id, rule_id)):
        raise click.ClickException("no such rule")
    _print({"deleted": rule_id})


@notify.command("deliveries")
@click.argument("project_id")
@click.option("--status", type=click.Choice(["sent", "failed", "dead"]), default=None)
@click.option("--limit", type=int, default=100, show_default=True)
@data_dir_option
def notify_deliveries(
    project_id: str, status: str | None, limit: int, data_dir: Path | None
) -> None:
    """Delivery attempts, newest first."""
    found = _notify_call(data_dir, lambda s: s.attempts(project_id, status or "", limit))
    _print({"deliveries": found})


@notify.command("dead")
@click.argument("project_id")
@data_dir_option
def notify_dead(project_id: str, data_dir: Path | None) -> None:
    """Deliveries that gave up (dead letters)."""
    found = _notify_call(data_dir, lambda s: s.outbox("dead", project_id))
    _print({"dead": [{"delivery_id": d.delivery_id, "event_id": d.event_id,
                      "destination_id": d.destination_id, "attempts": d.attempts}
                     for d in found]})  # fmt: skip


@notify.command("replay")
@click.argument("project_id")
@click.option("--id", "delivery_ids", multiple=True, help="Only these deliveries.")
@data_dir_option
def notify_replay(project_id: str, delivery_ids: tuple[str, ...], data_dir: Path | None) -> None:
    """Dead letters back to pending: sent again by the running (or next) server."""
    ids = list(delivery_ids) or None
    replayed = _notify_call(data_dir, lambda s: s.replay(project_id, ids))
    _print({"replayed": [d.delivery_id for d in replayed]})
