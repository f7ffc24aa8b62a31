"""`trackhouse serve | worker | edge | migrate | topics create`: start a runtime or prepare
its storage."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import click
import orjson

from pipeline.cli.base import (
    _clickhouse,
    _lock_data_dir,
    _raw_sql,
    _settings,
    data_dir_option,
    log,
    main,
)
from pipeline.mode_settings import warn_ignored
from pipeline.runtime.gc_tuning import keep_collector_off_hot_path
from pipeline.settings import Settings


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
        aggregates=runtime.aggregates,
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

        services.append(HttpApi.service(settings, start_http, stop_http, uvicorn_options(settings)))
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
