"""The embedded runtime's write-ahead log: accepted records are appended here (and made durable
by group commit) before the edge answers ``202``; the processor reads them back from its last
checkpoint, so nothing accepted is lost when the process dies.

Layout: segment files ``<base offset>.log`` of records ``[u32 length][u32 crc32][payload]``.
Offsets are global byte positions. A torn record at the tail (crash mid-write) is cut on open.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import structlog

HEADER = struct.Struct("<II")
log = structlog.get_logger(__name__)


class SpoolFullError(OSError):
    """The spool could not be written (disk full or similar): the edge answers 503."""


class _Segments:
    """Reading and releasing the segment files of a spool directory."""

    directory: Path
    _bases: list[int]

    def _segment_path(self, base: int) -> Path:
        return self.directory / f"{base:020d}.log"

    def _scan_bases(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.log")) or [0]

    @property
    def end_offset(self) -> int:
        raise NotImplementedError

    def read(self, offset: int, max_bytes: int = 8 << 20) -> tuple[list[bytes], int]:
        """Records from ``offset`` on (about ``max_bytes`` of them), and the offset after them."""
        end = self.end_offset
        if offset >= end:
            return [], offset
        bases = self._bases
        if len(bases) == 1 or offset >= bases[-1]:
            bases = self._bases = self._scan_bases()  # the writer may have rolled
        index = max(i for i, b in enumerate(bases) if b <= offset)
        base = bases[index]
        limit = bases[index + 1] if index + 1 < len(bases) else end
        with open(self._segment_path(base), "rb") as segment:
            segment.seek(offset - base)
            data = segment.read(min(limit - offset, max_bytes + (1 << 20)))
        records, pos = [], 0
        while pos + HEADER.size <= len(data) and pos < max_bytes:
            length, _crc = HEADER.unpack_from(data, pos)
            stop = pos + HEADER.size + length
            if stop > len(data):
                break
            records.append(data[pos + HEADER.size : stop])
            pos = stop
        return records, offset + pos

    def release(self, offset: int) -> None:
        """Delete segments wholly below ``offset`` (already checkpointed)."""
        bases = self._scan_bases()
        while len(bases) > 1 and bases[1] <= offset:
            self._segment_path(bases.pop(0)).unlink(missing_ok=True)
        self._bases = bases

    def redact(self, replace: Callable[[bytes], bytes | None]) -> int:
        """Rewrite (while no process writes the spool) every record for which ``replace`` gives
        a new payload of the same length, so offsets and checkpoints stay valid; each changed
        segment is written to a new file, synced and renamed over the old one. Returns how many
        records changed (erasure: the user's events leave the disk)."""
        changed = 0
        for base in self._scan_bases():
            path = self._segment_path(base)
            if not path.exists():
                continue
            data = bytearray(path.read_bytes())
            pos, before = 0, changed
            while pos + HEADER.size <= len(data):
                length, _crc = HEADER.unpack_from(data, pos)
                start, stop = pos + HEADER.size, pos + HEADER.size + length
                if stop > len(data):
                    break
                new = replace(bytes(data[start:stop]))
                if new is not None and len(new) == length:
                    data[start:stop] = new
                    HEADER.pack_into(data, pos, length, zlib.crc32(new))
                    changed += 1
                pos = stop
            if changed > before:
                temporary = path.with_suffix(".redacted")
                with open(temporary, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
        return changed


class Spool(_Segments):
    """Append-only, segmented, crash-safe record log with group-committed fsync (the writer)."""

    def __init__(self, directory: Path, segment_bytes: int = 64 << 20, fsync: bool = True) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.fsync_enabled = fsync
        directory.mkdir(parents=True, exist_ok=True)
        self._append_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._data_ready = threading.Condition(threading.Lock())
        self._bases = self._scan_bases()
        self._base = self._bases[-1]
        path = self._segment_path(self._base)
        valid = self._valid_length(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(self._fd).st_size > valid:
            log.warning("spool.torn_tail_cut", segment=path.name, kept_bytes=valid)
            os.ftruncate(self._fd, valid)
        self._written = self._base + valid
        self._synced = self._written

    @staticmethod
    def _valid_length(path: Path) -> int:
        """Length of the prefix of whole, checksum-valid records in ``path``."""
        if not path.exists():
            return 0
        data = path.read_bytes()
        pos = 0
        while pos + HEADER.size <= len(data):
            length, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if end > len(data) or zlib.crc32(data[pos + HEADER.size : end]) != crc:
                break
            pos = end
        return pos

    @property
    def end_offset(self) -> int:
        return self._written

    def append(self, payloads: list[bytes]) -> tuple[int, int]:
        """Write records (not yet durable); returns their start and end offsets.

        A failed or short write (disk full) is cut off again, so the log never holds a torn
        record in its middle, and raises ``SpoolFullError``.
        """
        frame = b"".join(HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        with self._append_lock:
            start = self._written
            try:
                written = os.write(self._fd, frame)
                if written != len(frame):
                    raise OSError(28, "short write")
            except OSError as exc:
                os.ftruncate(self._fd, start - self._base)
                raise SpoolFullError(exc.errno, f"spool write failed: {exc.strerror}") from exc
            self._written += len(frame)
            end = self._written
            if end - self._base >= self.segment_bytes:
                self._roll()
        with self._data_ready:
            self._data_ready.notify_all()
        return start, end

    def _roll(self) -> None:
        if self.fsync_enabled:
            os.fsync(self._fd)
        os.close(self._fd)
        self._base = self._written
        self._bases.append(self._base)
        self._fd = os.open(
            self._segment_path(self._base), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600
        )

    def sync(self, offset: int) -> None:
        """Block until everything up to ``offset`` is on disk. One fsync covers every append
        made before it started (group commit), so concurrent callers mostly just wait."""
        if not self.fsync_enabled or self._synced >= offset:
            return
        with self._sync_lock:
            if self._synced >= offset:
                return
            with self._append_lock:
                target, fd = self._written, os.dup(self._fd)
            try:
                os.fsync(fd)
            except OSError as exc:
                raise SpoolFullError(exc.errno, f"spool fsync failed: {exc.strerror}") from exc
            finally:
                os.close(fd)
            self._synced = max(self._synced, target)

    def wait_for_data(self, offset: int, timeout: float) -> bool:
        """Wait until records past ``offset`` exist (or the timeout passes)."""
        with self._data_ready:
            if self._written > offset:
                return True
            self._data_ready.wait(timeout)
            return self._written > offset

    def close(self) -> None:
        with self._append_lock:
            if self.fsync_enabled:
                os.fsync(self._fd)
            os.close(self._fd)


class SpoolReader(_Segments):
    """The read side of a spool another process appends to. It reads only up to the offset the
    writer declared durable (``advance``), so it never sees a record still being written."""

    def __init__(self, directory: Path, end_offset: int = 0) -> None:
        self.directory = directory
        self._bases = self._scan_bases()
        self._end = end_offset
        self._data_ready = threading.Condition(threading.Lock())

    @property
    def end_offset(self) -> int:
        return self._end

    def advance(self, end_offset: int) -> None:
        with self._data_ready:
            if end_offset > self._end:
                self._end = end_offset
                self._data_ready.notify_all()

    def wait_for_data(self, offset: int, timeout: float) -> bool:
        with self._data_ready:
            if self._end > offset:
                return True
            self._data_ready.wait(timeout)
            return self._end > offset
