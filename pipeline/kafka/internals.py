"""Every private attribute and method of Faust (faust-streaming) and aiokafka the pipeline uses.

The rest of the code goes through the functions here (or, for methods a subclass overrides,
is listed in ``PRIVATE``); ``tests/unit/kafka/test_internals.py`` checks each entry of
``PRIVATE`` against the installed versions, so an upgrade that renames or reshapes one fails
there, loudly, instead of deep inside a worker. References are to the pinned versions
(aiokafka 0.14.0, faust-streaming 0.15.3) and name the file and line the use depends on.

Faust is imported lazily: the edge imports this module (through the Kafka publisher) and does
not need Faust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from aiokafka.client import AIOKafkaClient


@dataclass(frozen=True)
class Private:
    """One private member: ``owner`` (``module:Class`` or a module), what it is, the
    parameters of a method (``None`` for attributes and modules), why we use it and where."""

    owner: str
    name: str
    # "method" | "coroutine" | "attribute" (set in __init__) | "declared" (a class annotation,
    # set outside __init__) | "module" | "global"
    kind: str
    params: tuple[str, ...] | None
    why: str
    upstream: str


PRIVATE: tuple[Private, ...] = (
    # --- aiokafka ---------------------------------------------------------------------------
    Private("aiokafka.client:AIOKafkaClient", "_metadata_update", "coroutine",
            ("self", "cluster_metadata", "topics"),
            "wrapped to back off metadata refreshes while no broker answers (kafka/backoff.py)",
            "aiokafka/client.py:284; no reconnect_backoff_ms (issue 16)"),
    Private("aiokafka.consumer.consumer:AIOKafkaConsumer", "_fetch_max_wait_ms", "attribute",
            None,
            "lowered after Faust built the consumer: read when the fetcher starts",
            "aiokafka/consumer/consumer.py:330 (set), :391 (passed to Fetcher in start())"),
    Private("aiokafka.record", "_crecords", "module", None,
            "aiokafka's C record builders (when built with its C extensions)",
            "aiokafka/record/_crecords/"),
    Private("aiokafka.record._crecords.default_records", "lz4_encode", "global", None,
            "the C record builder looks lz4_encode up in its module at each batch "
            "(kafka/compression.py)", "aiokafka/record/_crecords/default_records.pyx; "
            "aio-libs/aiokafka#1028 (no LZ4 level setting)"),
    Private("aiokafka.record._crecords.legacy_records", "lz4_encode", "global", None,
            "as above, for the legacy (v0/v1) C record builder",
            "aiokafka/record/_crecords/legacy_records.pyx; aio-libs/aiokafka#1028"),
    # --- faust-streaming: the consumer (runtime/faust_consumer.py) ---------------------------
    Private("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
            "_create_worker_consumer", "method", ("self", "transport"),
            "overridden to change fetch_max_wait_ms (Faust hard-codes 1,500 ms)",
            "faust/transport/drivers/aiokafka.py:568"),
    Private("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread", "_ensure_consumer",
            "method", ("self",), "the aiokafka consumer, to seek in the consumer's thread",
            "faust/transport/drivers/aiokafka.py:1065"),
    Private("faust.transport.drivers.aiokafka:Consumer", "_new_consumer_thread", "method",
            ("self",), "overridden to use ShortFetchWaitConsumerThread",
            "faust/transport/drivers/aiokafka.py:237"),
    Private("faust.transport.drivers.aiokafka:Consumer", "_seek", "coroutine",
            ("self", "partition", "offset"),
            "overridden: seek in the consumer's thread, not the app's",
            "faust/transport/consumer.py:1453 (ThreadDelegateConsumer._seek)"),
    Private("faust.transport.consumer:Consumer", "_new_offset", "method", ("self", "tp"),
            "overridden: never commit past an unacknowledged head "
            "(faust-streaming#606, pull request #707)", "faust/transport/consumer.py:1097"),
    Private("faust.transport.consumer:Consumer", "_is_changelog_tp", "method", ("self", "tp"),
            "stream partitions only are sought to their log start",
            "faust/transport/consumer.py:638"),
    Private("faust.transport.consumer:Consumer", "_read_offset", "attribute", None,
            "replaced by a mapping that answers None: the fetch loop drops nothing",
            "faust/transport/consumer.py:481 (set), :1180 (bound once by the fetch loop)"),
    Private("faust.transport.consumer:Consumer", "_committed_offset", "attribute", None,
            "the head of a partition (commits, watchdogs, consumer lag); no public accessor",
            "faust/transport/consumer.py:482"),
    Private("faust.transport.consumer:Consumer", "_acked", "attribute", None,
            "acknowledged offsets not committed yet, per partition",
            "faust/transport/consumer.py:479"),
    Private("faust.transport.consumer:Consumer", "_acked_index", "attribute", None,
            "offsets acknowledged since the last commit: a record fetched again at one of them "
            "is not handed to the streams again", "faust/transport/consumer.py:480 (set), "
            ":843 (ack adds), :1148 (commit removes)"),
    Private("faust.transport.consumer:Consumer", "getmany", "method", ("self", "timeout"),
            "overridden: records acknowledged since the last commit are not delivered again",
            "faust/transport/consumer.py:693; bound once by the fetch loop at :1177"),
    Private("faust.transport.consumer:Consumer", "_unacked_messages", "attribute", None,
            "records a stream holds: never sought back under it",
            "faust/transport/consumer.py:483"),
    Private("faust.transport.consumer:Consumer", "_paused_partitions", "declared", None,
            "the stall watchdog resumes a stream partition left paused after a rebalance",
            "faust/transport/consumer.py:443 (declared), :519 (reset), :622 and :628 "
            "(pause_partitions, resume_partitions); faust/tables/recovery.py:305 "
            "(_resume_streams returns early, partitions still paused, when the generation "
            "changed)"),
    Private("faust.transport.consumer:ThreadDelegateConsumer", "_thread", "attribute", None,
            "the consumer thread (call_thread, seek)", "faust/transport/consumer.py:1398"),
    # --- faust-streaming: the worker (runtime/faust_process.py, faust_publish.py) ------------
    Private("faust.transport.drivers.aiokafka:Producer", "_ensure_producer", "method",
            ("self",), "the aiokafka producer, to send record batches ourselves",
            "faust/transport/drivers/aiokafka.py:1378"),
    Private("faust.streams:Stream", "_set_current_event", "method", ("self", "event"),
            "the task's current event, which the table reads to pick a key's partition",
            "faust/streams.py:1203"),
    Private("faust.stores.rocksdb:Store", "_db_for_partition", "method", ("self", "partition"),
            "one RocksDB write batch per partition instead of one put per key",
            "faust/stores/rocksdb.py:482"),
    Private("faust.stores.rocksdb:Store", "_dbs", "attribute", None,
            "the open RocksDB of each partition: an erasure reads their keys",
            "faust/stores/rocksdb.py:288"),
)


# --- aiokafka -------------------------------------------------------------------------------


def client_metadata_update() -> Callable[..., Any]:
    """``AIOKafkaClient._metadata_update`` as it is now (patched or not)."""
    return AIOKafkaClient._metadata_update


def set_client_metadata_update(function: Callable[..., Any]) -> None:
    """Replace ``AIOKafkaClient._metadata_update`` process-wide."""
    AIOKafkaClient._metadata_update = function  # type: ignore[method-assign]


def set_fetch_max_wait_ms(consumer: Any, ms: int) -> None:
    """aiokafka's ``fetch_max_wait_ms`` of a consumer not started yet."""
    consumer._fetch_max_wait_ms = ms


def lz4_record_modules() -> list[ModuleType]:
    """The C record-builder modules whose global ``lz4_encode`` the builders call (empty when
    aiokafka was built without its C extensions)."""
    try:
        from aiokafka.record._crecords import default_records, legacy_records
    except ImportError:
        return []
    return [default_records, legacy_records]


# --- faust-streaming ------------------------------------------------------------------------


def ensure_consumer(thread: Any) -> Any:
    """The aiokafka consumer of a Faust consumer thread."""
    return thread._ensure_consumer()


def consumer_thread(consumer: Any) -> Any:
    """The consumer thread of a Faust consumer."""
    return consumer._thread


def committed_offsets(consumer: Any) -> dict[Any, int | None]:
    """A Faust consumer's committed offset per partition (None: not known); live mapping."""
    return consumer._committed_offset


def acked_offsets(consumer: Any) -> dict[Any, list[int]]:
    """A Faust consumer's acknowledged, not yet committed offsets per partition (live)."""
    return consumer._acked


def acked_index(consumer: Any) -> dict[Any, set[int]]:
    """A Faust consumer's offsets acknowledged since the last commit, per partition (live)."""
    return consumer._acked_index


def unacked_messages(consumer: Any) -> Any:
    """The messages a Faust consumer's streams hold (a WeakSet; live)."""
    return consumer._unacked_messages


def paused_partitions(consumer: Any) -> set[Any]:
    """The partitions a Faust consumer does not hand to its streams (live set)."""
    return consumer._paused_partitions


def replace_read_offsets(consumer: Any, offsets: dict[Any, Any]) -> None:
    """Replace a Faust consumer's "highest offset read" mapping (before its fetch loop runs)."""
    consumer._read_offset = offsets


def is_changelog_tp(consumer: Any, tp: Any) -> bool:
    """Whether ``tp`` is a table's changelog partition."""
    return consumer._is_changelog_tp(tp)


def ensure_producer(producer: Any) -> Any:
    """The aiokafka producer of a Faust producer (started)."""
    return producer._ensure_producer()


def set_current_event(stream: Any, event: Any) -> None:
    """Make ``event`` the current event of this task (the context variable Faust's tables
    read to pick a key's partition)."""
    stream._set_current_event(event)


def partition_db_opener(store: Any) -> Callable[[int], Any] | None:
    """A Faust RocksDB store's ``partition -> DB`` (None for other stores)."""
    return getattr(store, "_db_for_partition", None)


def partition_dbs(store: Any) -> dict[int, Any] | None:
    """A Faust RocksDB store's open ``partition -> DB`` (live; None for other stores)."""
    return getattr(store, "_dbs", None)
