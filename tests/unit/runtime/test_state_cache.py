"""The worker's cache of decoded visitor states."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from pipeline.runtime.faust_app import TrackhouseWorker
from pipeline.runtime.state_cache import StateCache
from pipeline.settings import Settings


def test_keeps_the_most_recently_written_states_up_to_capacity():
    cache: StateCache[str] = StateCache(capacity=3)
    cache.put_all({b"a": "a1", b"b": "b1", b"c": "c1"}, cache.generation)
    cache.put_all({b"a": "a2", b"d": "d1"}, cache.generation)  # b is now the oldest write
    assert [cache.get(k) for k in (b"a", b"b", b"c", b"d")] == ["a2", None, "c1", "d1"]
    assert len(cache) == 3


def test_a_batch_that_started_before_an_invalidation_does_not_fill_it():
    cache: StateCache[str] = StateCache(capacity=10)
    cache.put_all({b"a": "a1"}, cache.generation)
    started = cache.generation
    cache.invalidate()
    assert cache.get(b"a") is None
    cache.put_all({b"b": "b1"}, started)  # written before the rebalance: maybe not ours now
    assert cache.get(b"b") is None and len(cache) == 0
    cache.put_all({b"b": "b2"}, cache.generation)
    assert cache.get(b"b") == "b2"


def test_capacity_zero_caches_nothing():
    cache: StateCache[str] = StateCache(capacity=0)
    cache.put_all({b"a": "a1"}, cache.generation)
    assert cache.get(b"a") is None


def test_the_worker_forgets_cached_states_on_every_rebalance(tmp_path):
    settings = Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path, faust_store="memory://")
    worker = TrackhouseWorker(settings, enricher=None, clickhouse=None)  # type: ignore[arg-type]
    cache = worker.process.state_cache
    assert cache.capacity == settings.worker_state_cache_visitors

    async def rebalance() -> None:
        cache.put_all({b"prj\0vis": "state"}, cache.generation)
        await worker.app.on_partitions_revoked.send(set())
        assert cache.get(b"prj\0vis") is None
        cache.put_all({b"prj\0vis": "state"}, cache.generation)
        await worker.app.on_partitions_assigned.send(set())
        assert cache.get(b"prj\0vis") is None

    asyncio.run(rebalance())


def test_a_batch_that_fails_empties_the_cache(tmp_path):
    settings = Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path, faust_store="memory://")
    worker = TrackhouseWorker(settings, enricher=None, clickhouse=None)  # type: ignore[arg-type]
    cache = worker.process.state_cache
    cache.put_all({b"prj\0vis": "before"}, cache.generation)

    class Stream:
        async def take_events(self, records: int, within: float):
            yield [SimpleNamespace(message=SimpleNamespace(acked=False))]

    async def fails_midway(stream, events) -> None:
        raise RuntimeError("the broker went away mid-batch")  # states may be half changed

    worker.process.process_batch = fails_midway  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        asyncio.run(worker.process.run(Stream()))  # type: ignore[arg-type]
    assert len(cache) == 0
