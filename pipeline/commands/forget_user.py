"""``trackhouse users delete`` on a data dir: erase a user from ClickHouse, the spool and the
stage state, then drop the ClickHouse parts that still held its rows.

Each step runs in a child process with an engine of its own (chDB allows one engine per
process, and it schedules the removal of replaced parts only when it loads a table), while the
caller holds the data dir's lock. Steps, in order:

1. find the user's visitors (identities table, and identify events still in the spool);
2. store the tombstones (durable before anything is deleted; see ``tombstones``);
3. mutate the tables (``erase.erase_user``);
4. blank the user's records in the spool (same length, so the checkpoint stays valid);
5. delete the visitors' stage state from RocksDB and compact it;
6. (second child) wait until ClickHouse removed the replaced parts.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import structlog

from pipeline.settings import Settings

log = structlog.get_logger(__name__)


def _visitors_in_spool(settings: Settings, project_id: str, user_id: str) -> set[str]:
    """Visitors that sent an event with this user id, in what the spool still holds."""
    from pipeline.runtime.spool import SpoolReader
    from pipeline.runtime.spool_records import decode_spool_record
    from schemas.records import EnrichedEvent

    found: set[str] = set()
    needle = user_id.encode()

    def collect(payload: bytes) -> None:
        if needle in payload:  # cheap filter before decoding
            record = decode_spool_record(payload)
            if (
                isinstance(record, EnrichedEvent)
                and record.project_id == project_id
                and record.user_id == user_id
                and record.visitor_id
            ):
                found.add(record.visitor_id)

    SpoolReader(settings.spool_dir).redact(collect)  # type: ignore[arg-type]
    return found


def erase_everywhere(settings: Settings, project_id: str, user_id: str) -> dict[str, Any]:
    """Steps 1-5 (in this process, which must own the data dir's engine)."""
    from pipeline.privacy.erase import erase_user
    from pipeline.privacy.tombstones import Tombstones
    from pipeline.runtime.spool import SpoolReader
    from pipeline.runtime.spool_records import blank_erased
    from pipeline.runtime.state_store import StateStore
    from pipeline.sink.clickhouse import ClickHouse
    from schemas.keys import state_key, user_key

    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    try:
        clickhouse.migrate()
        in_spool = _visitors_in_spool(settings, project_id, user_id)
        erased_at = int(time.time() * 1000)
        erased = erase_user(clickhouse, project_id, user_id, in_spool, erased_at)
    finally:
        clickhouse.close()
    tombstones = Tombstones()
    tombstones.add(erased.subjects, erased_at)
    needles = tuple(f'"{value}"'.encode() for value in (user_id, *erased.visitors))
    blanked = SpoolReader(settings.spool_dir).redact(blank_erased(tombstones, needles))
    store = StateStore(settings.state_dir)
    try:
        store.forget([state_key(project_id, v) for v in [*erased.visitors, user_key(user_id)]])
        store.compact()
    finally:
        store.close()
    log.info("privacy.spool_blanked", records=blanked)
    counts = asdict(erased)
    counts.pop("subjects")
    return {**counts, "spool_records": blanked}


def drop_outdated_parts(settings: Settings) -> int:
    """Step 6 (in a fresh engine)."""
    from pipeline.privacy.erase import drop_outdated_parts as wait_for_cleanup
    from pipeline.sink.clickhouse import ClickHouse

    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    try:
        return wait_for_cleanup(clickhouse)
    finally:
        clickhouse.close()


def _child_main(connection: Any, function: Callable[..., Any], settings_data: dict, *args: Any):
    from pipeline.log_config import configure_logging

    settings = Settings(**settings_data)
    configure_logging(settings.log_level, settings.log_json)
    try:
        connection.send(("ok", function(settings, *args)))
    except Exception as exc:
        log.exception("privacy.erase_failed")
        connection.send(("error", f"{type(exc).__name__}: {exc}"))


def in_child(function: Callable[..., Any], settings: Settings, *args: Any) -> Any:
    """Run ``function(settings, *args)`` in a spawned process; its result, or RuntimeError."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_child_main, args=(child, function, settings.model_dump(), *args)
    )
    process.start()
    child.close()
    try:
        status, value = parent.recv()
    except EOFError:
        status, value = "error", "the erase process died"
    process.join()
    if status != "ok":
        raise RuntimeError(value)
    return value


def forget_user(settings: Settings, project_id: str, user_id: str) -> dict[str, Any]:
    """Erase ``user_id`` from the data dir (the caller holds its lock); returns the counts and
    ``outdated_parts_left`` (0 once ClickHouse dropped every part that held the rows)."""
    counts = in_child(erase_everywhere, settings, project_id, user_id)
    counts["outdated_parts_left"] = in_child(drop_outdated_parts, settings)
    return counts
