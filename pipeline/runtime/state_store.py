"""Durable per-visitor stage state for the embedded runtime (RocksDB through rocksdict, the
store Faust uses in production). State and the spool checkpoint are written in one atomic
batch, after the sink has inserted the rows they produced."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from rocksdict import BottommostLevelCompaction, CompactOptions, Options, Rdict, WriteBatch

from pipeline.stages.chain import Outcome
from pipeline.stages.sessionize import VisitorSessions
from pipeline.stages.stitch import VisitorIdentity
from schemas.records import decode_record, encode_record

CHECKPOINT_KEY = b"meta:checkpoint"
CLEAN_CACHE_SIZE = 100_000


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


class CachedStates:
    """The core's ``VisitorStates`` for the embedded runtime: changed-since-checkpoint state
    (``dirty``) in front of a bounded cache of clean state, in front of the store."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.dirty_sessions: dict[bytes, VisitorSessions] = {}
        self.dirty_identities: dict[bytes, VisitorIdentity] = {}
        self._clean_sessions: OrderedDict[bytes, VisitorSessions] = OrderedDict()
        self._clean_identities: OrderedDict[bytes, VisitorIdentity] = OrderedDict()

    def sessions(self, key: bytes) -> VisitorSessions | None:
        state = self.dirty_sessions.get(key) or self._clean_sessions.pop(key, None)
        return state if state is not None else self.store.sessions(key)

    def identity(self, key: bytes) -> VisitorIdentity | None:
        state = self.dirty_identities.get(key) or self._clean_identities.pop(key, None)
        return state if state is not None else self.store.identity(key)

    def put(self, key: bytes, outcome: Outcome) -> None:
        self.dirty_sessions[key] = outcome.sessions_state
        if outcome.identity_changed:
            self.dirty_identities[key] = outcome.identity_state
        else:  # most events: not encoded again at the next checkpoint
            self.keep_identity(key, outcome.identity_state)

    def keep_identity(self, key: bytes, state: VisitorIdentity) -> None:
        """An identity read and left unchanged: cached as it is stored (or, when new, as the
        empty identity that a missing key reads as)."""
        if key not in self.dirty_identities:
            self._clean_identities[key] = state

    def snapshot(self, checkpoint: int) -> WriteBatch:
        """Encode the changed state as of ``checkpoint``; it becomes clean (cached) state.

        Call it only once every earlier snapshot was written: the cache drops its oldest
        entries first, and this snapshot's entries must stay cached until it is written."""
        for clean in (self._clean_sessions, self._clean_identities):
            while len(clean) > CLEAN_CACHE_SIZE:
                clean.popitem(last=False)
        batch = self.store.snapshot(self.dirty_sessions, self.dirty_identities, checkpoint)
        for clean, dirty in (
            (self._clean_sessions, self.dirty_sessions),
            (self._clean_identities, self.dirty_identities),
        ):
            clean.update(dirty)
            dirty.clear()
        return batch

    def discard(self) -> None:
        """Forget uncommitted changes (the batch will be replayed from the checkpoint)."""
        self.dirty_sessions.clear()
        self.dirty_identities.clear()
        self._clean_sessions.clear()
        self._clean_identities.clear()
