"""Two Faust workers in one consumer group: the partitions are split between them, and a
visitor's session/identity state follows its partition when the group rebalances.

chDB is one engine per process, so each worker sinks into a database of its own (its data
directory); with a ClickHouse server both would insert into the same tables. The test reads
both databases: every accepted event is in one of them (or both, when a rebalance re-delivered
it: the same ``event_id``, which one server's ReplacingMergeTree would collapse)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import httpx

from tests.factories import BASE_MS, native_event
from tests.integration.helpers import key_headers
from tests.integration.kafka_worker import (
    report,
    start_worker,
    stored_ids,
    where_missing,
    worker_env,
)
from tests.integration.server import cli, wait_for

VISITORS = 37
EVENTS_PER_POST = 100


def rows_of(data_dir, run: str) -> list[list]:
    """(message_id, visitor_id, session_id, user_id) of the run's events in one worker's DB."""
    return cli(
        data_dir,
        "sql",
        "SELECT message_id, visitor_id, session_id, user_id FROM trackhouse.events FINAL "
        f"WHERE startsWith(message_id, '{run}')",
    )["rows"]


def metric_lines(server, prefix: str) -> list[str]:
    text = httpx.get(server.url + "/metrics").text
    return [line for line in text.splitlines() if line.startswith(prefix)]


def assigned_raw_partitions(server) -> int:
    """How many ``events.raw`` partitions the worker reports a lag for (was assigned)."""
    raw = server.topic("raw")
    return sum(raw in line for line in metric_lines(server, "trackhouse_consumer_lag{"))


def stored_by(server) -> float:
    return sum(
        float(line.split()[-1]) for line in metric_lines(server, "trackhouse_events_stored_total")
    )


def test_two_workers_split_the_partitions_and_state_follows_them_on_rebalance(kafka, tmp_path):
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    project = cli(first_dir, "projects", "create", "group")
    env = worker_env(kafka, TRACKHOUSE_WORKER_TAKE_RECORDS="4", TRACKHOUSE_LOG_LEVEL="info")
    run = uuid.uuid4().hex
    sent: list[str] = []

    def post(server, posts: range) -> None:
        with httpx.Client(base_url=server.url, headers=key_headers(project)) as client:
            for n in posts:
                events = [
                    native_event(
                        f"vis_group_{run[:6]}_{i % VISITORS}",
                        event="step",
                        message_id=f"{run}-{n}-{i}",
                        timestamp=BASE_MS + n * 1000 + i,  # one session per visitor
                    )
                    for i in range(EVENTS_PER_POST)
                ]
                if n == 0:  # the first visitor signs in: later events carry the user id
                    events[0] = native_event(
                        f"vis_group_{run[:6]}_0",
                        type="identify",
                        event="identify",
                        user_id=f"user_{run[:6]}",
                        message_id=f"{run}-0-0",
                        timestamp=BASE_MS,
                    )
                response = client.post("/v1/batch", json={"events": events})
                assert response.status_code == 202, response.text
                sent.extend(e["message_id"] for e in events)

    def ids_in(server) -> set[str]:
        return stored_ids(server, project)

    first = start_worker(first_dir, env)
    second = None
    try:
        post(first, range(0, 5))
        assert wait_for(lambda: len(ids_in(first)) == len(sent), 90), first.log()[-3000:]
        second = start_worker(second_dir, env)  # joins the group: the partitions are split
        assert wait_for(lambda: assigned_raw_partitions(second) > 0, 60), second.log()[-3000:]
        post(first, range(5, 20))
        # Enriched batches carry no key: each goes to a random partition, so the second worker's
        # sink may have been given none of them yet. More posts until it stores some.
        more = iter(range(20, 60))
        while not wait_for(lambda: stored_by(second) > 0, 5):
            n = next(more, None)
            assert n is not None, report(metric_lines(second, "trackhouse_"), second.log()[-3000:])
            post(first, range(n, n + 1))
        assert second.stop() == 0, second.log()[-3000:]  # leaves: the first takes all back
        second_ids = {r[0] for r in rows_of(second_dir, run)}
        last = len(sent) // EVENTS_PER_POST
        post(first, range(last, last + 5))
        assert wait_for(lambda: ids_in(first) | second_ids >= set(sent), 90), report(
            where_missing(kafka, first, set(sent) - ids_in(first) - second_ids),
            first.log()[-6000:],
        )
    finally:
        if second is not None:
            second.stop()
        assert first.stop() == 0, first.log()[-3000:]

    first_rows, second_rows = rows_of(first_dir, run), rows_of(second_dir, run)
    assert second_rows, "the second worker was given no partition"
    assert {r[0] for r in first_rows} != set(sent), "the first worker kept every partition"
    union = {r[0]: r for r in first_rows + second_rows}
    assert sorted(union) == sorted(sent)  # every accepted event, once per event id
    sessions: dict[str, set[str]] = defaultdict(set)
    for _, visitor, session, _ in union.values():
        sessions[visitor].add(session)
    assert len(sessions) == VISITORS
    # The state followed the partition: a visitor's events kept its one session across workers.
    assert all(len(ids) == 1 for ids in sessions.values()), sessions
    signed_in = [r for r in union.values() if r[1].endswith("_0")]
    assert signed_in and all(r[3] == f"user_{run[:6]}" for r in signed_in)
