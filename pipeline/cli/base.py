"""What every ``trackhouse`` command shares: the ``main`` group, settings from flags and the
environment, the data directory's lock and its ClickHouse."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import structlog
from filelock import FileLock, Timeout

from pipeline.log_config import configure_logging
from pipeline.settings import Settings

log = structlog.get_logger(__name__)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the spool, state and embedded ClickHouse live [TRACKHOUSE_DATA_DIR].",
)


def _settings(**overrides: Any) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _lock_data_dir(settings: Settings) -> FileLock:
    """One process owns a data dir (chDB allows one engine per path and process)."""
    lock = FileLock(settings.data_dir / "trackhouse.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise click.ClickException(
            f"another trackhouse process is using {settings.data_dir}; stop it first"
        ) from None
    return lock


def _clickhouse(settings: Settings, read_timeout: float | None = None):
    from pipeline.sink.clickhouse import ClickHouse

    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database, read_timeout)
    clickhouse.migrate()
    return clickhouse


def _raw_sql(settings: Settings):
    """Live SQL on this process's ClickHouse (None while no analyst token is set)."""
    if not settings.analyst_token.get_secret_value():
        return None
    from pipeline.sink.raw_sql import RawLimits, RawSql

    limits = RawLimits.from_settings(settings)
    return RawSql(settings.clickhouse_dsn, settings.clickhouse_database, limits)


@click.group()
@click.version_option(package_name="trackhouse", prog_name="trackhouse")
def main() -> None:
    """Trackhouse: self-hosted event tracking into ClickHouse."""


def _default_policy(settings: Settings):
    """The deployment's retention policy (projects without their own)."""
    from pipeline.privacy.retention import Policy

    return Policy(settings.anonymous_retention_days, settings.retention_days)


@contextlib.contextmanager
def _locked_clickhouse(data_dir: Path | None) -> Iterator[Any]:
    """The data dir's ClickHouse, migrated, with the data dir locked (embedded: stopped)."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        yield _clickhouse(settings)
