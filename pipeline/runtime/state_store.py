"""Durable per-visitor stage state for the embedded runtime (RocksDB through rocksdict, the
store Faust uses in production). State and the spool checkpoint are written in one atomic
batch, after the sink has inserted the rows they produced."""

from __future__ import annotations

from pathlib import Path

from rocksdict import BottommostLevelCompaction, CompactOptions, Options, Rdict, WriteBatch

from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import VisitorIdentity
from schemas.records import decode_record, encode_record

CHECKPOINT_KEY = b"meta:checkpoint"


class StateStore:
    """Sessions and identities by (project, visitor), plus the spool offset they reflect."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), Options(raw_mode=True))

    def checkpoint(self) -> int:
        value = self._db.get(CHECKPOINT_KEY)
        return int(value) if value else 0

    def sessions(self, key: bytes) -> VisitorSessions | None:
        value = self._db.get(b"s:" + key)
        return decode_record(value, VisitorSessions) if value else None

    def identity(self, key: bytes) -> VisitorIdentity | None:
        value = self._db.get(b"i:" + key)
        return decode_record(value, VisitorIdentity) if value else None

    def snapshot(
        self,
        sessions: dict[bytes, VisitorSessions],
        identities: dict[bytes, VisitorIdentity],
        checkpoint: int,
    ) -> WriteBatch:
        """Changed state and the checkpoint it reflects, encoded now, for ``write`` later."""
        batch = WriteBatch(raw_mode=True)
        for key, state in sessions.items():
            batch.put(b"s:" + key, encode_record(state))
        for key, identity in identities.items():
            batch.put(b"i:" + key, encode_record(identity))
        batch.put(CHECKPOINT_KEY, str(checkpoint).encode())
        return batch

    def write(self, batch: WriteBatch) -> None:
        """Apply a snapshot atomically."""
        self._db.write(batch)

    def forget(self, keys: list[bytes]) -> None:
        """Drop the stage state of these (project, visitor) keys (erasure)."""
        batch = WriteBatch(raw_mode=True)
        for key in keys:
            for stored in (b"s:" + key, b"i:" + key):
                if self._db.get(stored) is not None:  # a deletion marker holds the key too
                    batch.delete(stored)
        self._db.write(batch)

    def compact(self) -> None:
        """Flush and rewrite every file, so deleted values leave the disk (erasure)."""
        options = CompactOptions()
        options.set_bottommost_level_compaction(BottommostLevelCompaction.force())
        self._db.flush()
        self._db.compact_range(None, None, options)
        self._db.flush_wal(True)

    def close(self) -> None:
        self._db.close()
