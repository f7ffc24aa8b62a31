import os

import pytest

from pipeline.runtime.spool import HEADER, Spool, SpoolReader


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
