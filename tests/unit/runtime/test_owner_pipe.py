"""The edge's pipe to the storage process: deadlines, and no stale answer for the next caller."""

from __future__ import annotations

import threading
import time
from multiprocessing import Pipe

import pytest

from pipeline.runtime.owner import OwnerError, OwnerTimeoutError, RemoteClickHouse, StorageOwner
from pipeline.runtime.read_lanes import ReadLanes
from pipeline.settings import Settings


def storage(connection, delays: dict[str, float]) -> None:
    """A stand-in storage process: answers each query with its SQL, after a delay."""
    while True:
        try:
            request_id, _kind, sql, _parameters = connection.recv()
        except (EOFError, OSError):
            return
        time.sleep(delays.get(sql, 0.0))
        if sql == "fail":
            connection.send((request_id, "error", "RuntimeError: no"))
        else:
            connection.send((request_id, "ok", ([sql], [(sql,)])))


@pytest.fixture
def remote():
    parent, child = Pipe()
    delays: dict[str, float] = {}
    threading.Thread(target=storage, args=(child, delays), daemon=True).start()
    yield RemoteClickHouse(parent, "db", timeout=2.0), delays
    parent.close()


def test_a_late_answer_is_dropped_not_given_to_the_next_caller(remote):
    clickhouse, delays = remote
    delays["slow"] = 0.5
    started = time.monotonic()
    with pytest.raises(OwnerTimeoutError):
        clickhouse.query("slow", timeout=0.1)
    assert time.monotonic() - started < 0.4
    # The next call waits for the owed answer, drops it, and gets its own.
    assert clickhouse.query("fast") == (["fast"], [("fast",)])
    assert clickhouse.query("again") == (["again"], [("again",)])


def test_while_a_call_is_stuck_others_time_out_on_the_lock(remote):
    clickhouse, delays = remote
    delays["stuck"] = 1.5
    stuck = threading.Thread(target=clickhouse.query, args=("stuck",))
    stuck.start()
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(OwnerTimeoutError, match="busy"):
        clickhouse.query("waiting", timeout=0.2)
    assert time.monotonic() - started < 0.5
    stuck.join()
    assert clickhouse.query("after") == (["after"], [("after",)])


def test_errors_and_a_gone_process_raise_owner_errors(remote):
    clickhouse, _ = remote
    with pytest.raises(OwnerError, match="no"):
        clickhouse.query("fail")
    clickhouse._connection.close()
    with pytest.raises(OwnerError):
        clickhouse.query("x")


def test_spool_ends_reported_out_of_order_never_move_back(tmp_path):
    """Publishes finish out of order (group-commit fsyncs run in a thread pool): an older,
    smaller durable end reported after a newer one must not hide the newer one from the storage
    process. Before: the control thread sent only the last end reported, so the final batches
    of a load were never read (the 25,000 ev/s bench stored 400 accepted events too few)."""
    owner = StorageOwner(Settings(data_dir=tmp_path))
    ours, child = Pipe()
    owner._control = ours
    threading.Thread(target=owner._send, daemon=True).start()
    owner.advance(200)
    owner.advance(100)  # the earlier publish's fsync finished last
    ends = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if child.poll(0.1):
            message = child.recv()
            if message[0] == "end":
                ends.append(message[1])
    owner._stopping = True
    assert ends and ends[-1] == 200, ends


def test_queries_run_side_by_side_on_the_read_pipes():
    """A dashboard sends its reads 6 at a time: with read pipes (each served by a thread of
    its own in the child), two slow reads take one delay, not two, and the main pipe stays free
    for commands meanwhile."""
    delays = {"slow": 0.6}
    main, main_child = Pipe()
    threading.Thread(target=storage, args=(main_child, delays), daemon=True).start()
    clickhouse = RemoteClickHouse(main, "db", timeout=5.0)
    readers = []
    for _ in range(2):
        ours, theirs = Pipe()
        threading.Thread(target=storage, args=(theirs, delays), daemon=True).start()
        readers.append(RemoteClickHouse(ours, "db", timeout=5.0))
    clickhouse.read_on(ReadLanes(readers, "db", timeout=5.0))
    answers: list[object] = []
    started = time.monotonic()
    slow = [threading.Thread(target=lambda: answers.append(clickhouse.query("slow"))) for _ in "ab"]
    for thread in slow:
        thread.start()
    time.sleep(0.1)
    assert clickhouse._call("query", "on main", None) == (["on main"], [("on main",)])
    assert time.monotonic() - started < 0.4
    for thread in slow:
        thread.join()
    assert time.monotonic() - started < 1.0  # two 0.6 s reads one after another take 1.2 s
    assert answers == [(["slow"], [("slow",)])] * 2
    # A third read waits for a free pipe, within its deadline.
    blocking = [threading.Thread(target=clickhouse.query, args=("slow",)) for _ in "ab"]
    for thread in blocking:
        thread.start()
    time.sleep(0.1)
    with pytest.raises(OwnerTimeoutError, match="busy"):
        clickhouse.query("third", timeout=0.2)
    for thread in blocking:
        thread.join()
    assert clickhouse.query("third") == (["third"], [("third",)])


def lanes(count: int, delays: dict[str, float]) -> ReadLanes:
    """``count`` read lanes, each answered by a stand-in storage thread of its own."""
    remotes = []
    for _ in range(count):
        ours, theirs = Pipe()
        threading.Thread(target=storage, args=(theirs, delays), daemon=True).start()
        remotes.append(RemoteClickHouse(ours, "db", timeout=5.0))
    return ReadLanes(remotes, "db", timeout=5.0)


def test_light_reads_never_wait_behind_aggregates():
    """The dashboard's aggregates holding every aggregate lane (6 asked at a time, 3 lanes)
    leave recent events readable at once: light reads have lanes of their own."""
    delays = {"aggregate": 0.8}
    main, main_child = Pipe()
    threading.Thread(target=storage, args=(main_child, delays), daemon=True).start()
    clickhouse = RemoteClickHouse(main, "db", timeout=5.0)
    clickhouse.read_on(lanes(1, delays))
    aggregates = lanes(3, delays)
    busy = [threading.Thread(target=aggregates.query, args=("aggregate",)) for _ in range(6)]
    for thread in busy:
        thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert clickhouse.query("recent events") == (["recent events"], [("recent events",)])
    assert time.monotonic() - started < 0.3
    with pytest.raises(OwnerTimeoutError, match="busy"):  # the 7th aggregate waits its turn
        aggregates.query("aggregate", timeout=0.2)
    for thread in busy:
        thread.join()
