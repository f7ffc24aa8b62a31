"""Several events per Kafka record: Faust's cost is per message, not per event.

``events.raw``: the edge sends a request's events as one record per partition, a JSON array of
``record.raw-event.v1`` objects (``record.raw-batch.v1``); a lone event, and whatever other
services publish, stays a plain object. Each event of an array goes to the partition its own
key (``project\\0visitor``) gives it, so a visitor's state lives where it always did.

``events.enriched``: the worker publishes what one batch made of one partition's records as
``record.enriched-batch.v1`` (``{"events": [...], "sessions": [...]}``, header
``trackhouse-record: enriched-batch``), keeping only the newest version of each session.

Arrays are joined from the events' encoded bytes and split at ``max_bytes`` (well below
Kafka's default 1 MiB ``max.message.bytes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from pipeline.sink.rows import newest_sessions

MAX_RECORD_BYTES = 256 * 1024
ENRICHED_BATCH = b"enriched-batch"

_elements = msgspec.json.Decoder(list[msgspec.Raw])
__all__ = ["newest_sessions", "pack_enriched", "pack_raw", "unpack_raw"]


def chunks(encoded: Iterable[bytes], max_bytes: int = MAX_RECORD_BYTES) -> Iterator[list[bytes]]:
    """``encoded`` cut into consecutive runs of at most ``max_bytes`` (at least one each)."""
    run: list[bytes] = []
    size = 0
    for item in encoded:
        if run and size + len(item) + 1 > max_bytes:
            yield run
            run, size = [], 0
        run.append(item)
        size += len(item) + 1
    if run:
        yield run


def pack_raw(
    keyed: list[tuple[bytes, bytes]], max_bytes: int = MAX_RECORD_BYTES
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) records for (key, encoded) raw events: JSON arrays without a key, a lone
    event as itself under its own key."""
    records: list[tuple[bytes | None, bytes]] = []
    start = 0
    for run in chunks([value for _, value in keyed], max_bytes):
        if len(run) == 1:
            records.append((keyed[start][0], run[0]))
        else:
            records.append((None, b"[" + b",".join(run) + b"]"))
        start += len(run)
    return records


def unpack_raw(value: bytes) -> list[bytes]:
    """The events of an ``events.raw`` value: the elements of an array, else the value itself
    (a malformed value is returned whole, for the decode stage to reject)."""
    if value[:1] != b"[":
        return [value]
    try:
        return [bytes(element) for element in _elements.decode(value)]
    except msgspec.DecodeError:
        return [value]


def pack_enriched(
    events: list[bytes], sessions: list[bytes], max_bytes: int = MAX_RECORD_BYTES
) -> list[bytes]:
    """Record values of ``record.enriched-batch.v1`` for encoded events and sessions."""
    values = []
    left = len(events)  # events come first in every run, then sessions
    for run in chunks([*events, *sessions], max_bytes):
        split = min(left, len(run))
        left -= split
        values.append(
            b'{"events":['
            + b",".join(run[:split])
            + b'],"sessions":['
            + b",".join(run[split:])
            + b"]}"
        )
    return values
