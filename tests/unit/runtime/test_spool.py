import contextlib
import errno
import os
import random
import threading

import pytest

from pipeline.runtime.spool import HEADER, Spool, SpoolFullError, SpoolReader


def read_all(spool, offset=0):
    out = []
    while True:
        records, offset = spool.read(offset)
        if not records:
            return out, offset
        out.extend(records)


def test_appended_records_read_back_in_order(tmp_path):
    spool = Spool(tmp_path)
    _, end = spool.append([b"a", b"bb"])
    spool.sync(end)
    _, end = spool.append([b"ccc"])
    records, offset = read_all(spool)
    assert records == [b"a", b"bb", b"ccc"]
    assert offset == end == spool.end_offset


def test_records_survive_reopen_and_reading_resumes_at_an_offset(tmp_path):
    spool = Spool(tmp_path)
    _, middle = spool.append([b"one"])
    spool.append([b"two"])
    spool.close()
    reopened = Spool(tmp_path)
    assert read_all(reopened, middle)[0] == [b"two"]


def test_torn_tail_is_cut_on_open(tmp_path):
    spool = Spool(tmp_path)
    _, good_end = spool.append([b"complete"])
    spool.close()
    [segment] = list(tmp_path.glob("*.log"))
    with open(segment, "ab") as f:
        f.write(HEADER.pack(100, 0) + b"partial")
    reopened = Spool(tmp_path)
    assert reopened.end_offset == good_end
    assert read_all(reopened)[0] == [b"complete"]
    reopened.append([b"next"])
    assert read_all(reopened)[0] == [b"complete", b"next"]


def test_segments_roll_and_released_ones_are_deleted(tmp_path):
    spool = Spool(tmp_path, segment_bytes=64)
    offsets = [spool.append([bytes([65 + i]) * 40])[1] for i in range(5)]
    assert len(list(tmp_path.glob("*.log"))) > 2
    records, _ = read_all(spool)
    assert [r[0] for r in records] == [65, 66, 67, 68, 69]
    spool.release(offsets[3])
    assert read_all(spool, offsets[3])[0] == [b"E" * 40]
    assert len(list(tmp_path.glob("*.log"))) <= 3


def test_a_short_write_on_a_full_disk_is_cut_off_and_refused(tmp_path, monkeypatch):
    from pipeline.runtime.spool import SpoolFullError

    spool = Spool(tmp_path)
    spool.append([b"before"])
    real_write = os.write

    def disk_fills_up(fd, data):
        return real_write(fd, data[:5])  # part of the frame reached the disk

    monkeypatch.setattr(os, "write", disk_fills_up)
    with pytest.raises(SpoolFullError):
        spool.append([b"lost-but-refused"])
    monkeypatch.undo()
    spool.append([b"after"])
    assert read_all(spool)[0] == [b"before", b"after"]
    assert read_all(Spool(tmp_path))[0] == [b"before", b"after"]


class Faults:
    """Fault injection on the syscalls the spool makes (ENOSPC by default), one kind at a time."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch
        self.failing: set[str] = set()
        self.calls: dict[str, int] = {}
        self.chance = 1.0  # of each call of a failing kind failing
        self.rng = random.Random(0)
        for name in ("write", "fsync", "open", "ftruncate"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def call(*args, **kwargs):
            if self.rng.random() >= self.chance:
                return real(*args, **kwargs)
            if name == "write" and "short-write" in self.failing and self.rng.random() < 0.5:
                self.calls["short-write"] = self.calls.get("short-write", 0) + 1
                return real(args[0], args[1][: len(args[1]) // 2])  # part reached the disk
            if name in self.failing and (name != "open" or str(args[0]).endswith(".log")):
                self.calls[name] = self.calls.get(name, 0) + 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(*args, **kwargs)

        return call


@pytest.fixture
def faults(monkeypatch):
    return Faults(monkeypatch)


def attempt(spool, payload: bytes) -> bool:
    """Append and make durable, as the edge does: True if acknowledged, False if refused."""
    try:
        _, end = spool.append([payload])
        spool.sync(end)
    except SpoolFullError:
        return False
    return True


def test_a_failed_roll_refuses_the_frame_and_the_spool_stays_usable(tmp_path, faults):
    spool = Spool(tmp_path, segment_bytes=64)
    faults.failing = {"open"}  # no room for a new segment file
    payloads = [b"a" * 60, b"b", b"c", b"d"]  # the first fills the segment
    acked = [p for p in payloads if attempt(spool, p)]
    assert b"a" * 60 in acked and len(acked) < len(payloads)
    faults.failing = set()
    assert attempt(spool, b"after")
    assert read_all(spool)[0] == [*acked, b"after"]
    spool.close()
    assert read_all(Spool(tmp_path))[0] == [*acked, b"after"]


def test_a_failed_fsync_on_roll_refuses_and_drops_what_was_not_durable(tmp_path, faults):
    spool = Spool(tmp_path, segment_bytes=64)
    assert attempt(spool, b"durable")
    faults.failing = {"fsync"}
    pending = None
    with contextlib.suppress(SpoolFullError):
        _, pending = spool.append([b"p" * 60])  # fills the segment: a roll is due
    with pytest.raises(SpoolFullError):
        spool.append([b"refused"])  # the old segment's fsync fails
    faults.failing = set()
    if pending is not None:
        with pytest.raises(SpoolFullError):
            spool.sync(pending)  # its bytes may not be on disk: refused too
    assert attempt(spool, b"after")
    assert read_all(spool)[0] == [b"durable", b"after"]
    spool.close()
    assert read_all(Spool(tmp_path))[0] == [b"durable", b"after"]


def test_a_failed_fsync_refuses_and_no_later_append_makes_the_bytes_readable(tmp_path, faults):
    spool = Spool(tmp_path)
    _, durable = spool.append([b"durable"])
    spool.sync(durable)
    _, first = spool.append([b"refused-1"])
    _, second = spool.append([b"refused-2"])  # appended before the failing fsync
    faults.failing = {"fsync"}
    with pytest.raises(SpoolFullError):
        spool.sync(first)
    faults.failing = set()
    with pytest.raises(SpoolFullError):
        spool.sync(second)  # the same fsync covered it: refused as well
    _, end = spool.append([b"after"])
    spool.sync(end)
    with pytest.raises(SpoolFullError):
        spool.sync(second)  # still refused once later offsets are durable
    assert read_all(spool)[0] == [b"durable", b"after"]
    spool.close()
    reopened = Spool(tmp_path)
    assert read_all(reopened)[0] == [b"durable", b"after"]


def test_a_reader_skips_what_a_failed_fsync_cut_off(tmp_path, faults):
    spool = Spool(tmp_path)
    _, durable = spool.append([b"durable"])
    spool.sync(durable)
    _, refused = spool.append([b"refused"])
    faults.failing = {"fsync"}
    with pytest.raises(SpoolFullError):
        spool.sync(refused)
    faults.failing = set()
    _, end = spool.append([b"after"])
    spool.sync(end)
    reader = SpoolReader(tmp_path, end)
    records, offset = read_all(reader)
    assert (records, offset) == ([b"durable", b"after"], end)


def test_a_write_whose_cut_fails_is_cut_before_the_next_append(tmp_path, faults):
    spool = Spool(tmp_path)
    _, durable = spool.append([b"durable"])
    spool.sync(durable)
    faults.failing = {"short-write", "ftruncate"}
    with pytest.raises(SpoolFullError):
        spool.append([b"refused"])
    faults.failing = {"ftruncate"}
    with pytest.raises(SpoolFullError):
        spool.append([b"refused-too"])  # the file still holds a torn tail
    faults.failing = set()
    _, end = spool.append([b"after"])
    spool.sync(end)
    assert read_all(spool)[0] == [b"durable", b"after"]
    spool.close()
    assert read_all(Spool(tmp_path))[0] == [b"durable", b"after"]


@pytest.mark.parametrize("fsync", [True, False])
def test_under_random_faults_exactly_the_acknowledged_records_are_kept(tmp_path, faults, fsync):
    """Threads append and sync as the edge does while writes, fsyncs, opens and cuts fail at
    random: what was acknowledged is read back (in order), nothing refused is."""
    rng = random.Random(16)
    spool = Spool(tmp_path, segment_bytes=512, fsync=fsync)
    lock = threading.Lock()
    acked: dict[bytes, int] = {}
    unexpected: list[BaseException] = []
    faults.chance = 0.1
    faults.rng = rng
    faults.failing = {"write", "short-write", "fsync", "open", "ftruncate"}

    def client(n: int) -> None:
        for i in range(150):
            payload = f"{n}-{i}".encode() * rng.randint(1, 20)
            try:
                _, end = spool.append([payload])
                spool.sync(end)
            except SpoolFullError:
                continue
            except Exception as exc:  # an answer other than 503
                unexpected.append(exc)
                continue
            with lock:
                acked[payload] = end

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    faults.failing = set()
    assert not unexpected
    assert sum(faults.calls.values()) > 20 and 100 < len(acked) < 600, faults.calls
    expected = sorted(acked, key=acked.__getitem__)
    assert attempt(spool, b"after")
    assert read_all(spool)[0] == [*expected, b"after"]
    spool.close()
    assert read_all(Spool(tmp_path))[0] == [*expected, b"after"]


def test_refusing_names_the_last_failure_until_records_are_stored_again(tmp_path, faults):
    spool = Spool(tmp_path)
    assert spool.refusing() == ""
    faults.failing = {"write"}
    assert not attempt(spool, b"refused")
    assert "No space left on device" in spool.refusing()
    assert spool.refusing(within=0) == ""  # old enough: a probe alone goes ready again
    faults.failing = set()
    assert attempt(spool, b"after")
    assert spool.refusing() == ""


def test_redact_rewrites_records_in_place_and_keeps_offsets(tmp_path):
    spool = Spool(tmp_path, segment_bytes=64)
    _, middle = spool.append([b"keep-1", b"secret-user-1"])
    _, end = spool.append([b"x" * 70, b"secret-user-2", b"keep-2"])  # rolls a segment
    spool.close()
    reader = SpoolReader(tmp_path, end)

    def blank(payload: bytes) -> bytes | None:
        return b"\x01" + bytes(len(payload) - 1) if b"secret" in payload else None

    assert reader.redact(blank) == 2
    records, offset = read_all(reader)
    assert offset == end
    assert records == [b"keep-1", b"\x01" + bytes(12), b"x" * 70, b"\x01" + bytes(12), b"keep-2"]
    assert not any(b"secret" in p.read_bytes() for p in tmp_path.iterdir())
    reopened = Spool(tmp_path)  # checksums were rewritten: nothing is cut as torn
    assert reopened.end_offset == end
    assert read_all(reopened, middle)[0][-1] == b"keep-2"
