"""The one settings object: environment variables with a ``TRACKHOUSE_`` prefix, then CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of Trackhouse. Each field is also the env var ``TRACKHOUSE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TRACKHOUSE_", extra="ignore")

    # HTTP edge
    host: str = "127.0.0.1"
    port: int = 8000
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated IPs/CIDRs whose X-Forwarded-For is honoured.",
    )
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_events: int = 1000
    future_tolerance_seconds: int = 3600
    rate_limit_events_per_second: float = Field(
        default=10_000, description="Per project key, token bucket refill; 0 disables."
    )
    rate_limit_burst_events: int = 20_000
    admin_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token of the admin API (/admin/v1/...: 404 while empty) and of"
        " the privacy-dashboard POST /api/v1/websites (403 while empty).",
    )
    analyst_token: SecretStr = Field(
        default=SecretStr(""),
        description="Password of live SQL, ClickHouse's HTTP interface at /clickhouse/ (read-only,"
        " every project's rows): Basic auth password, X-ClickHouse-Key or Bearer. '' = off (404).",
    )
    live_sql_max_execution_seconds: float = Field(
        default=10.0, description="Live SQL: a query running longer is stopped (code 159)."
    )
    live_sql_max_result_rows: int = Field(
        default=1_000_000,
        ge=10_000,  # clients read system.settings (~2,000 rows) when they connect
        description="Live SQL: a result with more rows is refused (code 396).",
    )
    live_sql_max_result_bytes: int = Field(
        default=100_000_000,
        description="Live SQL: a result larger than this in memory is refused (code 396).",
    )
    live_sql_max_memory_bytes: int = Field(
        default=1_000_000_000,
        description="Live SQL: a query needing more memory is stopped (code 241), not the "
        "storage process.",
    )
    live_sql_max_threads: int = Field(
        default=1,
        description="Live SQL: threads a query may use (1 leaves the other core to ingest).",
    )
    visitor_hash_salt: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the daily visitor hash of cookieless Kitbase logs; '' = a random"
        " key per process (set one shared value when several edges serve one site).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins allowed by CORS on the read and admin "
        "routes ('*' = any; '' = none). Ingest routes allow any origin.",
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        description="A request's line and headers must arrive within this (408, then close).",
    )
    http_body_timeout_seconds: float = Field(
        default=30.0,
        description="A request's body must arrive within this after its headers (408).",
    )
    http_max_header_bytes: int = Field(
        default=16 * 1024, description="Request line + headers larger than this get 431."
    )
    http_keep_alive_seconds: int = Field(
        default=75,
        gt=0,
        description="An idle kept-alive connection is closed after this. Longer than a "
        "client's polling period (the dashboard refreshes every 5 s) and than a load "
        "balancer's idle timeout (60 s on most), so neither sends on a closing connection.",
    )

    # Storage
    data_dir: Path = Path("./trackhouse-data")
    clickhouse_url: str = Field(
        default="",
        description="clickhouse-connect DSN; empty means chdb://<data_dir>/clickhouse (embedded).",
    )
    clickhouse_database: str = "trackhouse"
    geo_database: Path | None = Field(
        default=None, description="GeoLite2/GeoIP2/DB-IP City mmdb; default: bundled DB-IP Lite."
    )

    # Kafka runtime (edge -> Kafka -> Faust workers -> ClickHouse)
    kafka_bootstrap: str = Field(default="", description="host:port[,host:port]; '' = embedded.")
    topic_raw: str = "events.raw"
    topic_enriched: str = "events.enriched"
    topic_identities: str = "identities"
    topic_dead: str = "events.dead"
    topic_notifications: str = "notifications"
    topic_partitions: int = 3
    topic_replication: int = 1
    raw_retention_hours: int = 24
    enriched_retention_hours: int = Field(
        default=24,
        description="Retention of events.enriched, identities, events.dead and notifications "
        "(the sink reads them within seconds; what they hold of an erased user stays this "
        "long).",
    )
    changelog_compaction_hours: int = Field(
        default=24,
        description="State changelog: a superseded or deleted (erased) visitor state is "
        "compacted away within about this long (max.compaction.lag.ms), and a deletion "
        "marker kept this long after (delete.retention.ms).",
    )
    faust_app_id: str = "trackhouse"
    worker_role: Literal["all", "process", "sink"] = Field(
        default="all",
        description="What a worker runs: both agents, or only the process agent (no ClickHouse) "
        "or only the sink agent (its own consumer group, <app id>-sink), to scale them apart.",
    )
    kafka_publish_timeout_seconds: float = Field(
        default=4.0,
        description="The edge answers 503 when Kafka has not acknowledged an event by then.",
    )
    kafka_publish_retry_seconds: float = Field(
        default=30.0,
        description="Worker: a record the broker has not acknowledged after this long is sent "
        "again (Faust's default waits 20 minutes).",
    )
    faust_store: str = Field(default="rocksdb://", description="memory:// in tests")
    faust_session_timeout_seconds: float = Field(
        default=10.0,
        ge=6.0,
        description="Consumer group session timeout: how long a killed worker's partitions wait "
        "before another member (or its restart) gets them. Heartbeats go every third of it "
        "(at most 3 s). Shorter: faster failover, but a worker whose heartbeats stall that long "
        "(GC, an overloaded host) is dropped and its partitions move. The broker refuses less "
        "than its group.min.session.timeout.ms (6 s by default).",
    )
    faust_rebalance_timeout_seconds: float = Field(
        default=60.0,
        description="How long a rebalance waits for live members to rejoin (they commit and "
        "stop their streams first). A killed member does not hold it up: it leaves when its "
        "session times out.",
    )
    worker_instance_id: str = Field(
        default="",
        description="Static group membership (KIP-345): a name unique per worker of a role "
        "that stays the same across its restarts (e.g. the host name). A restarted worker "
        "then takes its partitions back at once instead of waiting for the session timeout. "
        "Trade-off: a stopped worker does not leave the group, so its partitions wait for "
        "the session timeout unless it comes back. '' = dynamic membership.",
    )
    worker_take_records: int = Field(
        default=100,
        description="Worker: Kafka records per take() batch of either agent (a record of "
        "events.raw or events.enriched holds one event or an array of them).",
    )
    sink_take_records: int = Field(
        default=500,
        description="Worker: Kafka records per sink insert at most (it inserts every "
        "sink_flush_seconds otherwise). Identity records come one by one, enriched events "
        "hundreds to a record: with the take() size of the process agent, identities filled "
        "the batch and the sink inserted ~5 small blocks a second.",
    )
    process_batch_size: int = Field(
        default=2000, description="Worker: events processed between two publish rounds."
    )
    process_flush_seconds: float = 0.2
    worker_state_cache_visitors: int = Field(
        default=50_000,
        description="Worker: decoded visitor states kept in memory in front of the state "
        "table's store (emptied on every rebalance); 0 = always read the store.",
    )

    # Stages
    session_timeout_seconds: int = 30 * 60

    # Privacy
    anonymous_retention_days: int = Field(
        default=0,
        ge=0,
        description="Default for projects without a retention policy of their own: purge "
        "never-identified visitors' events and sessions after N days; 0 = keep (off).",
    )
    retention_days: int = Field(
        default=0,
        ge=0,
        description="Default for projects without a retention policy of their own: purge "
        "every event and session after N days; 0 = keep (off).",
    )
    erasure_reload_seconds: float = Field(
        default=5.0,
        description="Kafka workers: how often the erasure tombstones are re-read from "
        "ClickHouse (an erased user's events re-delivered from Kafka are dropped).",
    )
    retention_check_seconds: float = 6 * 3600
    plan_reload_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the pipeline checks for a new tracking plan version (one "
        "query, not per event; a changed plan is compiled once).",
    )

    # Embedded runtime
    sink_batch_size: int = 20_000
    sink_flush_seconds: float = 0.5
    state_checkpoint_seconds: float = 5.0
    spool_fsync: bool = True
    spool_segment_bytes: int = 64 * 1024 * 1024
    max_backlog_seconds: float = Field(
        default=1.5,
        description="Age of the oldest accepted event not yet in ClickHouse past which the edge "
        "answers 503 (bounds POST -> row latency under overload).",
    )
    storage_timeout_seconds: float = Field(
        default=30.0,
        description="The edge waits at most this for the storage process to answer a read, "
        "a key refresh or an admin call (then 503).",
    )
    storage_read_connections: int = Field(
        default=3,
        ge=1,
        description="Embedded: the edge's aggregate reads (stats API, dashboard, funnels, "
        "retention, revenue) run this many at once in the storage process, each on its own "
        "chDB connection, at the CPU priority of storage_read_nice.",
    )
    storage_light_read_connections: int = Field(
        default=2,
        ge=1,
        description="Embedded: the edge's light reads (recent events, one event, a user's "
        "profile) run this many at once in the storage process, each on its own chDB "
        "connection, at normal CPU priority: they never wait behind an aggregate.",
    )
    storage_read_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="Embedded: the nice value of the aggregate reads' threads in the storage "
        "process (19 = lowest CPU priority: ingest first). Needs CAP_SYS_NICE, else ignored.",
    )
    storage_stall_seconds: float = Field(
        default=1.0,
        description="The storage process answers a heartbeat every 0.2 s; past this without "
        "an answer the edge answers 503 to writes and /readyz reports it.",
    )
    max_backlog_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Spool bytes not yet in ClickHouse past which the edge answers 503.",
    )

    # Notifications (docs/notifications.md)
    notify_retry_base_seconds: float = Field(
        default=1.0, description="First wait before a failed delivery is retried (doubling)."
    )
    notify_retry_max_seconds: float = Field(
        default=600.0, description="Longest wait between two delivery attempts."
    )
    notify_give_up_seconds: float = Field(
        default=24 * 3600.0, description="A delivery failing this long becomes a dead letter."
    )
    notify_timeout_seconds: float = Field(
        default=10.0, description="One delivery attempt (connect + answer) must end within this."
    )
    notify_concurrency: int = Field(
        default=32, description="Deliveries in flight per destination (1 = strictly in order)."
    )
    notify_reload_seconds: float = Field(
        default=2.0, description="How often the delivery side re-reads destinations and rules."
    )
    notify_threshold_check_seconds: float = Field(
        default=30.0, description="How often threshold rules are evaluated on the stored events."
    )
    smtp_host: str = Field(default="", description="SMTP server of email destinations.")
    smtp_port: int = 25
    smtp_from: str = "trackhouse@localhost"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    stream_max_clients: int = Field(
        default=20, description="Live stream (GET /v1/stream) connections per project (429)."
    )
    stream_poll_seconds: float = Field(
        default=0.5, description="How often the live stream asks for newly stored events."
    )

    bootstrap_project: str = Field(
        default="default",
        description="Name of a project created (key logged once) when none exists; '' disables.",
    )

    log_level: str = "info"
    log_json: bool | None = Field(
        default=None,
        description="JSON log lines (true) or readable ones (false); unset, '' or 'auto': JSON "
        "unless stderr is a terminal.",
    )

    def model_post_init(self, _context: object) -> None:
        self.data_dir = self.data_dir.expanduser().resolve()

    @field_validator("log_json", mode="before")
    @classmethod
    def _auto_is_none(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            return None
        return value

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def clickhouse_dsn(self) -> str:
        """The DSN clickhouse-connect opens: the configured URL, else chDB in the data dir."""
        return self.clickhouse_url or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"
