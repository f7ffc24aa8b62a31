"""Every event that cannot be processed is kept as a dead letter with the stage and the reason
(never the IP), counted, listed by `trackhouse dead list` and re-driven by `dead replay`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import orjson
import pytest

from pipeline.runtime.faust_records import dead_letter
from schemas.records import RawEvent, encode_record
from tests.factories import BASE_MS
from tests.integration.helpers import fetch, wait_rows
from tests.integration.kafka_worker import produce, start_worker, worker_env
from tests.integration.server import Server, cli, wait_for

SCENARIO = Path(__file__).with_name("dead_letter_scenario.py")
IP = "81.2.69.142"


def test_failed_events_are_dead_letters_then_replayed_into_the_pipeline(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "dead")
    out = subprocess.run(
        [sys.executable, str(SCENARIO), str(data_dir), project["project_id"]],
        capture_output=True,
        check=True,
        timeout=180,
    )
    result = orjson.loads(out.stdout.splitlines()[-1])
    # The processor went on past the failure: the other events are stored.
    assert result["events"] == ["ok-1", "ok-2", "ok-3"]
    dead = {d["stage"]: d for d in result["dead"]}
    assert set(dead) == {"enrich", "sessionize"}
    assert "geo database cannot be read" in dead["enrich"]["reason"]
    assert "sessionize bug" in dead["sessionize"]["reason"]
    assert (dead["enrich"]["record_type"], dead["sessionize"]["record_type"]) == (
        "raw-event",
        "enriched-event",
    )
    assert result["counted"] == {"enrich": 1.0, "sessionize": 1.0}
    assert IP not in out.stdout.decode() and IP not in out.stderr.decode()  # nor in the logs
    assert "processor.stage_failed" in out.stderr.decode()

    listed = cli(data_dir, "dead", "list")["dead_letters"]
    assert sorted(d["stage"] for d in listed) == ["enrich", "sessionize"]
    assert all(d["project_id"] == project["project_id"] and IP not in d["record"] for d in listed)
    only = cli(data_dir, "dead", "list", "--stage", "enrich")["dead_letters"]
    assert [d["dead_id"] for d in only] == [d["dead_id"] for d in listed if d["stage"] == "enrich"]

    replayed = cli(data_dir, "dead", "replay")
    assert sorted(replayed["replayed"]) == sorted(d["dead_id"] for d in listed)
    assert replayed["skipped"] == []
    assert cli(data_dir, "dead", "list")["dead_letters"] == []
    history = cli(data_dir, "dead", "list", "--all")["dead_letters"]
    assert len(history) == 2 and all(d["dead_id"] in replayed["replayed"] for d in history)

    # The next start reads the re-driven records from the spool: every event is stored once.
    server = Server(data_dir).start()
    try:
        rows = wait_rows(server, project, 5, visitor_id="vis_dead")
        by_event = {r["event"]: r for r in rows}
        assert sorted(by_event) == ["broken", "ok-1", "ok-2", "ok-3", "poison"]
        assert len({r["session_id"] for r in rows}) == 1  # all in the visitor's one session
        assert by_event["poison"]["country"] == "GB"  # enriched before sessionize failed
        assert by_event["broken"]["country"] == ""  # the IP was never kept: no geo on replay
        assert by_event["broken"]["browser"] == "Chrome"
        assert fetch(server, project, visitor_id="vis_dead")["pagination"]["total"] == 5
    finally:
        assert server.stop() == 0, server.log()
    assert cli(data_dir, "dead", "list")["dead_letters"] == []


def _dead_counted(worker, stage: str) -> float:
    text = httpx.get(worker.url + "/metrics").text
    for line in text.splitlines():
        if line.startswith(f'trackhouse_dead_letters_total{{stage="{stage}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.slow
def test_kafka_dead_letters_reach_the_table_and_replay_to_events_raw(kafka, tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "dead-kafka")
    env = worker_env(kafka)
    visitor = f"vis_{uuid.uuid4().hex}"
    key = f"{project['project_id']}\0{visitor}".encode()
    raw = RawEvent(
        event_id=str(uuid.uuid4()), project_id=project["project_id"], type="track",
        event="redriven", visitor_id=visitor, timestamp=BASE_MS, received_at=BASE_MS, ip=IP,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    )  # fmt: skip
    # What the process agent writes when enrich fails on a record of events.raw:
    origin = SimpleNamespace(topic=env["TRACKHOUSE_TOPIC_RAW"], partition=0, offset=10**9, key=key)
    enrich_failure = dead_letter(encode_record(raw), "RuntimeError: bug", "enrich", origin, raw)

    first = start_worker(data_dir, env)
    try:
        asyncio.run(
            produce(kafka, first.topic("raw"), [(key, b'{"ip": "' + IP.encode() + b'", oo')])
        )
        asyncio.run(produce(kafka, first.topic("dead"), [(key, encode_record(enrich_failure))]))
        assert wait_for(
            lambda: _dead_counted(first, "decode") == 1 and _dead_counted(first, "enrich") == 1, 60
        ), first.log()
    finally:
        assert first.stop() == 0, first.log()

    listed = {d["stage"]: d for d in cli(data_dir, "dead", "list", env=env)["dead_letters"]}
    assert set(listed) == {"decode", "enrich"}
    assert all(IP not in d["record"] for d in listed.values())
    assert listed["decode"]["project_id"] == project["project_id"]  # from the record key
    assert listed["decode"]["record_type"] == "" and listed["enrich"]["record_type"] == "raw-event"

    replayed = cli(data_dir, "dead", "replay", env=env)
    assert replayed["replayed"] == [listed["enrich"]["dead_id"]]
    assert [s["dead_id"] for s in replayed["skipped"]] == [listed["decode"]["dead_id"]]

    second = start_worker(data_dir, env, port=first.port)
    try:
        [row] = wait_rows(second, project, 1, visitor_id=visitor)
        assert (row["event"], row["browser"], row["country"]) == ("redriven", "Chrome", "")
    finally:
        assert second.stop() == 0, second.log()
    pending = cli(data_dir, "dead", "list", env=env)["dead_letters"]
    assert [d["stage"] for d in pending] == ["decode"]  # bytes that never were an event stay
