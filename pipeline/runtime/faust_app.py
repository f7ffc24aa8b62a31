"""Kafka mode: the Faust worker, two thin agents around the processing core (``runtime.core``).

Faust's cost is per message (about 100 µs here, see docs/benchmarks.md), so records carry
several events (``pipeline.kafka.envelope``): the edge sends a request's events as one array per
partition, and the worker publishes each batch's enriched events per partition as one
``record.enriched-batch.v1`` (with the newest state of their sessions).

- ``faust_process.ProcessAgent`` (on ``events.raw``): decode, enrich, the core's sessionize +
  stitch with state in a Faust table, publish, then write the states.
- ``faust_sink.SinkAgent`` (on ``events.enriched`` + ``identities`` + ``events.dead``): the
  core's rows and sink; the records are acked once their rows are in ClickHouse, with the
  pending notification deliveries of their events (``pipeline.notify``: the worker's delivery
  thread sends them, as the embedded storage process does).
- ``faust_service``: log levels, the ``faust.Worker`` subclass, the HTTP API service.

Here: the app built from ``Settings``, the agents of the worker's role, and the housekeeping
timers (consumer lag, retention, erasure tombstones).
"""

from __future__ import annotations

import asyncio
import time

import faust
import structlog

from pipeline import metrics
from pipeline.kafka import backoff, internals
from pipeline.kafka.compression import use_fast_lz4
from pipeline.notify.service import Notifications
from pipeline.plans.book import PlanBook
from pipeline.privacy.tombstones import Tombstones
from pipeline.runtime.faust_consumer import use_at_least_once_consumer
from pipeline.runtime.faust_process import ProcessAgent
from pipeline.runtime.faust_sink import SinkAgent
from pipeline.settings import Settings
from pipeline.sink.clickhouse import ClickHouse
from pipeline.stages.enrich import Enricher

log = structlog.get_logger(__name__)
LAG_INTERVAL_SECONDS = 5.0


def _kafka_brokers(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def faust_app_id(settings: Settings) -> str:
    """The consumer group: sink-only workers have their own (``<app id>-sink``), since Faust
    expects every member of a group to run the same agents."""
    if settings.worker_role == "sink":
        return f"{settings.faust_app_id}-sink"
    return settings.faust_app_id


class TrackhouseWorker:
    """The Faust app and the agents of ``settings.worker_role``, built from ``Settings``.

    The sink agent needs ``clickhouse``; ``clickhouse=None`` builds a worker without it."""

    def __init__(
        self,
        settings: Settings,
        enricher: Enricher,
        clickhouse: ClickHouse | None,
    ) -> None:
        self.settings = settings
        self.enricher = enricher
        self.clickhouse = clickhouse
        self.tombstones = Tombstones()  # erased users: re-deliveries are dropped
        role = settings.worker_role
        use_fast_lz4()
        backoff.install()
        app = faust.App(
            faust_app_id(settings),
            broker=_kafka_brokers(settings.kafka_bootstrap),
            store=settings.faust_store,
            datadir=str(settings.data_dir / "faust"),
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_compression_type="lz4",
            producer_linger_ms=5,
            producer_max_batch_size=1 << 20,  # a batch's records go as one record batch
            # A produce request unanswered this long fails and is sent again (Faust waits 20 min)
            producer_request_timeout=settings.kafka_publish_retry_seconds,
            web_enabled=False,
            # A killed worker's partitions move after the session timeout (see Settings)
            broker_session_timeout=settings.faust_session_timeout_seconds,
            broker_rebalance_timeout=max(
                settings.faust_rebalance_timeout_seconds, settings.faust_session_timeout_seconds
            ),
            broker_heartbeat_interval=min(3.0, settings.faust_session_timeout_seconds / 3),
            consumer_group_instance_id=settings.worker_instance_id or None,
            table_standby_replicas=0,
        )
        use_at_least_once_consumer(app)
        self.app = app

        def topic(*names: str) -> faust.TopicT:
            return app.topic(*names, key_serializer="raw", value_serializer="raw")

        self.process: ProcessAgent | None = None
        self.sink: SinkAgent | None = None
        self.notifications: Notifications | None = None
        if role != "sink":
            self.process = ProcessAgent(
                app,
                settings,
                enricher,
                self.tombstones,
                self._reload_tombstones,
                PlanBook(clickhouse, settings.plan_reload_seconds),
            )
            app.agent(topic(settings.topic_raw), name="trackhouse.process")(self.process.run)
        app.timer(LAG_INTERVAL_SECONDS, name="trackhouse.lag")(self._report_lag)
        if role != "process" and clickhouse is not None:
            app.timer(settings.retention_check_seconds, on_leader=True, name="trackhouse.purge")(
                self._purge_anonymous
            )
            self.notifications = Notifications(clickhouse, settings)
            self.sink = SinkAgent(
                settings,
                clickhouse,
                self.tombstones,
                self._reload_tombstones,
                self.notifications.outbox,
            )
            sink_topic = topic(
                settings.topic_enriched, settings.topic_identities, settings.topic_dead
            )
            app.agent(sink_topic, name="trackhouse.sink")(self.sink.run)

    # --- housekeeping ------------------------------------------------------------------------

    async def _report_lag(self) -> None:
        """``trackhouse_consumer_lag``: per assigned partition, messages past the committed
        offset (what a crash would re-deliver, or what is not processed yet)."""
        consumer = self.app.consumer
        committed = internals.committed_offsets(consumer)
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet (just assigned)
                continue
            if highwater is None:
                continue
            done = committed.get(tp) or 0
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - done, 0))

    async def _purge_anonymous(self) -> None:
        """The projects' retention policies, applied by the group's leader only."""
        from pipeline.privacy.retention import Policy, apply_policies

        assert self.clickhouse is not None
        default = Policy(self.settings.anonymous_retention_days, self.settings.retention_days)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, apply_policies, self.clickhouse, default
            )
        except Exception:
            log.exception("privacy.purge_failed")

    # --- erasure --------------------------------------------------------------------------------

    async def _reload_tombstones(self) -> None:
        """Re-read the erasure tombstones every ``erasure_reload_seconds`` (ClickHouse only);
        a process worker then deletes the state of newly erased visitors it holds."""
        every = self.settings.erasure_reload_seconds
        if self.clickhouse is None or time.monotonic() - self.tombstones.loaded_at < every:
            return
        known = set(self.tombstones.erased)
        await asyncio.get_running_loop().run_in_executor(
            None, self.tombstones.reload_every, self.clickhouse, every
        )
        new = self.tombstones.erased.keys() - known
        if new and self.process is not None:
            await self.process.drop_erased_states(new)
