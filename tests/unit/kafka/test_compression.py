"""The producers' LZ4 runs at the fast level (aiokafka's default is level 9)."""

from __future__ import annotations

from aiokafka.codec import lz4_decode
from aiokafka.record._crecords.default_records import DefaultRecordBatchBuilder as CBuilder
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy as PyBuilder
from aiokafka.record.memory_records import MemoryRecords

from pipeline.kafka import compression

LZ4, NONE, HEADER = 3, 0, 61  # compression attributes; v2 record batch header size


def _batch(builder_type: type, compression_type: int, values: list[bytes]) -> bytes:
    builder = builder_type(2, compression_type, 0, -1, -1, -1, 1 << 20)
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=1_767_225_600_000, key=b"k", value=value, headers=[])
    return bytes(builder.build())


def test_record_batches_are_compressed_at_the_fast_level_and_read_back():
    values = [b'{"event":"page","n":%d,"path":"/docs/%d"}' % (n, n % 7) for n in range(500)]
    records = _batch(PyBuilder, NONE, values)[HEADER:]
    fast = len(compression.lz4_encode_fast(records))
    slow = len(compression._original_lz4_encode(records))
    assert fast != slow  # the levels give different sizes for this payload
    compression.use_fast_lz4()
    for builder_type in (PyBuilder, CBuilder):
        batch = _batch(builder_type, LZ4, values)
        assert len(batch) == HEADER + fast
        read = [record.value for record in MemoryRecords(batch).next_batch()]
        assert read == values
    assert lz4_decode(compression.lz4_encode_fast(records)) == records
