"""The embedded runtime's write-ahead log: accepted records are appended here (and made durable
by group commit) before the edge answers ``202``; the processor reads them back from its last
checkpoint, so nothing accepted is lost when the process dies.

Layout: segment files ``<base offset>.log`` of records ``[u32 length][u32 crc32][payload]``.
Offsets are global byte positions. A torn record at the tail (crash mid-write) is cut on open.
A segment may end before the next one begins: records cut off after a failed fsync leave a hole
that readers skip (their offsets are not reused).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import os
import struct
import threading
import time
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
        while offset < end:
            records, after, hole = self._read_segment(offset, end, max_bytes)
            if records or not hole:
                return records, after
            offset = after  # only a hole (records cut after a failed fsync): go on after it
        return [], offset

    def _read_segment(self, offset: int, end: int, max_bytes: int) -> tuple[list[bytes], int, bool]:
        """Records from ``offset`` on in its segment, the offset after them, and whether the
        segment ends there before the next one begins (a hole, skipped)."""
        bases = self._bases
        if len(bases) == 1 or offset >= bases[-1]:
            bases = self._bases = self._scan_bases()  # the writer may have rolled
        index = max(i for i, b in enumerate(bases) if b <= offset)
        base = bases[index]
        limit = bases[index + 1] if index + 1 < len(bases) else end
        wanted = min(limit - offset, max_bytes + (1 << 20))
        with open(self._segment_path(base), "rb") as segment:
            segment.seek(offset - base)
            data = segment.read(wanted)
        records, pos = [], 0
        while pos + HEADER.size <= len(data) and pos < max_bytes:
            length, _crc = HEADER.unpack_from(data, pos)
            stop = pos + HEADER.size + length
            if stop > len(data):
                break
            records.append(data[pos + HEADER.size : stop])
            pos = stop
        if pos == len(data) < wanted and index + 1 < len(bases):
            return records, limit, True
        return records, offset + pos, False

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
    """Append-only, segmented, crash-safe record log with group-committed fsync (the writer).

    A failed append or fsync (disk full, I/O error) leaves the log as if the refused records
    had never been appended, and the next append once the disk has room works again:

    * a failed or short write is cut off again (and, should that cut fail too, before the
      next append writes anything);
    * segments roll at the start of the append that finds the current one full, so a failed
      roll (the old segment's fsync, the new file) refuses a frame that was not written;
    * after a failed fsync nothing written since the last good one can be trusted (Linux may
      drop the dirty pages and report the error only once): it is cut off, its offsets are
      recorded as lost (``sync`` of any of them fails, even once later ones are durable) and
      never reused, and the log goes on in a fresh segment at the offset after them, which
      readers reach by skipping the hole at the end of the cut segment.
    """

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
        created = not path.exists()
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._sync_fd = os.open(path, os.O_RDONLY)
        if created:
            self._sync_directory()
        if os.fstat(self._fd).st_size > valid:
            log.warning("spool.torn_tail_cut", segment=path.name, kept_bytes=valid)
            os.ftruncate(self._fd, valid)
        self._written = self._base + valid
        self._synced = self._written
        self._cut_to: int | None = None  # the current segment must be cut back to this offset
        self._lost: list[tuple[int, int]] = []  # ranges (start, end] cut after a failed fsync
        self.failure: tuple[float, str] | None = None  # (monotonic time, reason) of the last one

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

        Raises ``SpoolFullError`` if they cannot be written; nothing of them is kept then.
        """
        frame = b"".join(HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        with self._append_lock:
            start = self._written
            if self._fd is None or self._cut_to is not None or (
                start - self._base >= self.segment_bytes
            ):
                try:
                    self._prepare_segment()
                except OSError as exc:
                    raise self._failed("roll", exc) from exc
            try:
                written = os.write(self._fd, frame)
                if written != len(frame):
                    raise OSError(errno.ENOSPC, "short write")
            except OSError as exc:
                self._cut_to = start
                with contextlib.suppress(OSError):  # if it fails, the next append cuts first
                    self._cut_tail()
                raise self._failed("write", exc) from exc
            self._written = end = start + len(frame)
            if self.failure is not None and not self.fsync_enabled:
                self._recovered()
        with self._data_ready:
            self._data_ready.notify_all()
        return start, end

    def _prepare_segment(self) -> None:
        """Before an append: finish a pending cut, then roll if the segment is full or gone."""
        if self._cut_to is not None:
            self._cut_tail()  # a failed write's tail, or records dropped after a failed fsync
        if self._fd is not None and self._written - self._base >= self.segment_bytes:
            if self.fsync_enabled:
                try:
                    os.fsync(self._fd)
                except OSError:
                    self._drop_unsynced()
                    raise
                self._synced = self._written
            self._close_segment()
        if self._fd is None:
            self._open_segment()

    def _open_segment(self) -> None:
        """Start a fresh segment at the end of the log (emptied if a file of that name was left
        from a failed attempt); its directory entry is made durable with it."""
        base = self._written
        path = self._segment_path(base)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        try:
            sync_fd = os.open(path, os.O_RDONLY)
        except OSError:
            os.close(fd)
            raise
        try:
            self._sync_directory()
        except OSError:
            os.close(fd)
            os.close(sync_fd)
            raise
        self._fd, self._sync_fd, self._base = fd, sync_fd, base
        if base not in self._bases:
            self._bases.append(base)

    def _sync_directory(self) -> None:
        """Make a new segment file's directory entry durable (a crash must not lose it)."""
        if self.fsync_enabled:
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def _close_segment(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        for descriptor in (fd, self._sync_fd):
            try:
                os.close(descriptor)
            except OSError as exc:  # the data is fsynced or given up already
                log.warning("spool.close_failed", error=str(exc))

    def _cut_tail(self) -> None:
        """Cut the current segment back to ``_cut_to`` (raises if that fails; retried before
        the next append, which cannot write before it succeeds). A cut below the end of the
        log (records dropped after a failed fsync) closes the segment: the log goes on in a
        fresh one at its end."""
        assert self._fd is not None and self._cut_to is not None
        os.ftruncate(self._fd, self._cut_to - self._base)
        cut, self._cut_to = self._cut_to, None
        if cut != self._written:
            self._close_segment()

    def _drop_unsynced(self) -> None:
        """After a failed fsync: cut off everything written since the last good fsync, record
        its offsets as lost, and go on in a fresh segment after them (append lock held)."""
        lost = (self._synced, self._written)
        if lost[1] > lost[0]:
            self._lost.append(lost)
        log.error("spool.unsynced_dropped", start=lost[0], end=lost[1])
        self._cut_to = self._synced
        self._synced = self._written  # what is not durable below this is lost: sync() fails
        with contextlib.suppress(OSError):  # if it fails, the segment stays open, cut pending
            self._cut_tail()

    def _failed(self, operation: str, exc: OSError) -> SpoolFullError:
        reason = f"spool {operation} failed: {exc.strerror or exc}"
        if self.failure is None:  # logged once per outage (the edge logs each refusal)
            log.warning("spool.refusing", operation=operation, error=reason)
        self.failure = (time.monotonic(), reason)
        return SpoolFullError(exc.errno, reason)

    def _recovered(self) -> None:
        """Records were stored again (written, and made durable when fsync is on)."""
        log.info("spool.recovered", last_error=self.failure[1] if self.failure else "")
        self.failure = None

    def refusing(self, within: float = 5.0) -> str:
        """Why the last append was refused, if that was less than ``within`` seconds ago (the
        edge's Retry-After) and none was stored since; '' otherwise. For readiness: a probe
        does not append, so it goes ready again by itself and traffic finds out."""
        failure = self.failure
        if failure is None or time.monotonic() - failure[0] >= within:
            return ""
        return failure[1]

    def _was_lost(self, offset: int) -> bool:
        """Whether ``offset`` ends a record dropped after a failed fsync (ranges are sorted)."""
        index = bisect.bisect_left(self._lost, (offset,)) - 1
        return index >= 0 and offset <= self._lost[index][1]

    def sync(self, offset: int) -> None:
        """Block until everything up to ``offset`` is on disk. One fsync covers every append
        made before it started (group commit), so concurrent callers mostly just wait.

        Raises ``SpoolFullError`` if the records before ``offset`` could not be made durable
        (they are then dropped, see the class docstring)."""
        if not self.fsync_enabled:
            return
        if self._synced >= offset and not (self._lost and offset <= self._lost[-1][1]):
            return
        with self._sync_lock:
            with self._append_lock:
                if self._was_lost(offset):
                    raise SpoolFullError(errno.EIO, "spool fsync failed: the records were dropped")
                if self._synced >= offset:
                    return
                # its own file description: an fsync error is reported to each description
                # once, so the roll's fsync (on ``_fd``) cannot swallow the one meant for this
                target, fd = self._written, os.dup(self._sync_fd)
            try:
                os.fsync(fd)
            except OSError as exc:
                with self._append_lock:
                    if self._synced < target:  # a roll may have dropped them already
                        self._drop_unsynced()
                    raise self._failed("fsync", exc) from exc
            finally:
                os.close(fd)
            with self._append_lock:
                self._synced = max(self._synced, target)
                if self.failure is not None:
                    self._recovered()
                if self._was_lost(offset):  # a roll's failed fsync dropped them meanwhile
                    raise SpoolFullError(errno.EIO, "spool fsync failed: the records were dropped")

    def wait_for_data(self, offset: int, timeout: float) -> bool:
        """Wait until records past ``offset`` exist (or the timeout passes)."""
        with self._data_ready:
            if self._written > offset:
                return True
            self._data_ready.wait(timeout)
            return self._written > offset

    def close(self) -> None:
        with self._append_lock:
            if self._fd is None:
                return
            if self._cut_to is not None:
                try:
                    self._cut_tail()
                except OSError as exc:
                    log.error("spool.cut_failed_on_close", error=str(exc))
            if self.fsync_enabled and self._fd is not None:
                try:
                    os.fsync(self._fd)
                except OSError as exc:  # everything acknowledged was fsynced already
                    log.error("spool.fsync_failed_on_close", error=str(exc))
            self._close_segment()


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
