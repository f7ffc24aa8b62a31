"""``trackhouse dead list|replay``: show the dead letters, and re-drive them into the pipeline
once their cause is fixed.

A letter is re-driven to where it came from: embedded (``topic == "spool"``) into the spool,
which the storage process reads at its next start (the CLI runs while the server is stopped,
like every command that opens the embedded engine); Kafka mode back to ``events.raw`` through
the edge's acks=all publisher. Only readable records are re-driven (``record_type``
``raw-event`` or ``enriched-event``); bytes that were never an event stay listed. The IP was
removed from the letter, so a replayed event has no geo. Replayed letters get ``replayed_at``
and leave the default listing; a record that fails again comes back as a new letter.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.deadletter.letters import SPOOL_TOPIC
from pipeline.settings import Settings
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from schemas.records import DeadLetter, EnrichedEvent, RawEvent, decode_record

REPLAYABLE = {"raw-event": RawEvent, "enriched-event": EnrichedEvent}


@dataclass
class DeadFilter:
    project_id: str | None = None
    stage: str | None = None
    dead_ids: tuple[str, ...] = ()
    include_replayed: bool = False
    limit: int = 100


def _where(f: DeadFilter) -> tuple[str, dict[str, Any]]:
    clauses, params = ["1"], {}
    if not f.include_replayed:
        clauses.append("replayed_at IS NULL")
    if f.project_id:
        clauses.append("project_id = {p:String}")
        params["p"] = f.project_id
    if f.stage:
        clauses.append("stage = {s:String}")
        params["s"] = f.stage
    if f.dead_ids:
        clauses.append("toString(dead_id) IN {ids:Array(String)}")
        params["ids"] = list(f.dead_ids)
    return " AND ".join(clauses), params


def find(clickhouse: ClickHouse, f: DeadFilter) -> list[DeadLetter]:
    """Dead letters matching ``f``, newest first (current version of each)."""
    where, params = _where(f)
    sql = (
        f"SELECT {', '.join(rows.DEAD_LETTER_COLUMNS)} "
        f"FROM {clickhouse.database}.dead_letters FINAL WHERE {where} "
        f"ORDER BY failed_at DESC LIMIT {int(f.limit)}"
    )
    columns, found = clickhouse.query(sql, params)
    out = []
    for values in found:
        row = dict(zip(columns, values, strict=True))
        out.append(
            DeadLetter(
                record=row["record"],
                reason=row["reason"],
                stage=row["stage"],
                topic=row["topic"],
                partition=row["partition"],
                offset=row["offset"],
                encoding=row["encoding"],
                record_type=row["record_type"],
                project_id=row["project_id"],
                failed_at=int(row["failed_at"].timestamp() * 1000),
                dead_id=str(row["dead_id"]),
            )
        )
    return out


def to_json(letter: DeadLetter) -> dict[str, Any]:
    return msgspec.to_builtins(letter)


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _record_bytes(letter: DeadLetter) -> bytes:
    if letter.encoding == "base64":
        return base64.b64decode(letter.record)
    return letter.record.encode("utf-8")


def _decoded(letter: DeadLetter) -> RawEvent | EnrichedEvent | None:
    record_type = REPLAYABLE.get(letter.record_type)
    if record_type is None:
        return None
    try:
        return decode_record(_record_bytes(letter), record_type)
    except (msgspec.DecodeError, ValueError):
        return None


def replay(clickhouse: ClickHouse, settings: Settings, letters: list[DeadLetter]) -> ReplayResult:
    """Re-drive ``letters``; marks the re-driven ones replayed."""
    result = ReplayResult()
    to_spool: list[tuple[DeadLetter, RawEvent | EnrichedEvent]] = []
    to_kafka: list[tuple[DeadLetter, RawEvent]] = []
    for letter in letters:
        record = _decoded(letter)
        if record is None:
            result.skipped.append({"dead_id": letter.dead_id, "why": "not a readable event"})
        elif letter.topic == SPOOL_TOPIC:
            to_spool.append((letter, record))
        elif isinstance(record, RawEvent):
            to_kafka.append((letter, record))
        else:
            result.skipped.append({"dead_id": letter.dead_id, "why": "not a raw event"})
    if to_spool:
        _to_spool(settings, [record for _, record in to_spool])
    if to_kafka:
        asyncio.run(_to_kafka(settings, [record for _, record in to_kafka]))
    done = [letter for letter, _ in (*to_spool, *to_kafka)]
    clickhouse.insert(rows.dead_letter_block(done, replayed_at=int(time.time() * 1000)))
    result.replayed = [letter.dead_id for letter in done]
    return result


def _to_spool(settings: Settings, records: list[RawEvent | EnrichedEvent]) -> None:
    from pipeline.runtime.spool import Spool
    from pipeline.runtime.spool_records import encode_event, enrich_or_dead_letter
    from pipeline.stages.enrich import Enricher

    enricher = Enricher(settings.geo_database)
    payloads = [
        enrich_or_dead_letter(enricher, r) if isinstance(r, RawEvent) else encode_event(r)
        for r in records
    ]
    spool = Spool(settings.spool_dir, settings.spool_segment_bytes, settings.spool_fsync)
    try:
        _start, end = spool.append(payloads)
        spool.sync(end)
    finally:
        spool.close()


async def _to_kafka(settings: Settings, records: list[RawEvent]) -> None:
    from pipeline.kafka.publisher import KafkaPublisher

    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        await publisher.publish(records)
    finally:
        await publisher.stop()
