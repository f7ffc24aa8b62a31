"""Kafka mode end to end on a real broker: ``trackhouse worker`` (Faust agents + the HTTP API of
the chDB-owning process): POST -> events.raw -> process agent -> topics -> sink agent ->
ClickHouse -> GET. Every worker gets topics and an app id of its own."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import httpx
import msgspec
import orjson
import pytest

from pipeline.kafka.publisher import partition_of
from schemas.records import DeadLetter, RawEvent, encode_record
from tests.factories import BASE_MS, MINUTE_MS, native_event
from tests.integration.helpers import (
    CHROME_WINDOWS,
    GOOGLEBOT,
    IPHONE,
    fetch,
    key_headers,
    post_batch,
    wait_rows,
)
from tests.integration.kafka_worker import (
    Worker,
    produce,
    report,
    start_worker,
    stored_ids,
    where_missing,
    worker_env,
)
from tests.integration.server import Server, cli, urllib_post, wait_for
from tests.kafka_broker import LocalBroker, consume, docker_engine_answers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("worker") / "data"
    project = cli(data_dir, "projects", "create", "kafka")
    # Retention: checked every 2 s, for events older than 10 years (only one test sends those).
    env = worker_env(
        kafka, TRACKHOUSE_RETENTION_CHECK_SECONDS="2", TRACKHOUSE_ANONYMOUS_RETENTION_DAYS="3650"
    )
    running = start_worker(data_dir, env)
    running.projects = (project,)
    yield running
    assert running.stop() == 0, running.log()


def test_posted_events_are_enriched_and_stored_through_kafka(worker, kafka):
    project = worker.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    page = {
        "url": "https://shop.test/pricing?utm_source=newsletter&utm_medium=email",
        "referrer": "https://www.google.com/search?q=x",
    }
    events = [
        native_event(
            visitor,
            type="page",
            context={"user_agent": CHROME_WINDOWS, "ip": "81.2.69.142", "page": page},
        ),
        native_event(
            visitor, event="tap", timestamp=BASE_MS + 1000, context={"user_agent": IPHONE}
        ),
        native_event(
            visitor,
            event="crawl",
            timestamp=BASE_MS + 2000,
            notify=True,
            context={"user_agent": GOOGLEBOT},
        ),
    ]
    response = post_batch(worker, project, events, {"X-Forwarded-For": "8.8.8.8"})
    assert response.status_code == 202, response.text
    rows = {r["event"]: r for r in wait_rows(worker, project, 3, visitor_id=visitor)}
    assert set(rows) == {"pageview", "tap", "crawl"}  # raw reads: bots' events too

    chrome = rows["pageview"]
    assert (chrome["browser"], chrome["os"], chrome["device_type"]) == (
        "Chrome",
        "Windows",
        "desktop",
    )
    assert (chrome["country"], chrome["city"]) == ("GB", "London")
    assert (chrome["path"], chrome["referrer_domain"]) == ("/pricing", "google.com")
    assert (chrome["utm_source"], chrome["utm_medium"]) == ("newsletter", "email")
    assert (rows["tap"]["device_brand"], rows["tap"]["country"]) == ("Apple", "US")
    assert rows["crawl"]["is_bot"] is True
    assert [r["event"] for r in fetch(worker, project, visitor_id=visitor, is_bot="true")[
        "events"]] == ["crawl"]  # fmt: skip
    # a backend on the standard library (User-Agent Python-urllib/3.x) is no crawler
    backend = f"vis_{uuid.uuid4().hex}"
    status, _ = urllib_post(
        f"{worker.url}/v1/events", {"event": "paid", "visitor_id": backend}, project["write_key"]
    )
    assert status == 202
    [paid] = wait_rows(worker, project, 1, visitor_id=backend)
    assert (paid["browser"], paid["is_bot"]) == ("Python-urllib", False)
    assert len({r["session_id"] for r in rows.values()}) == 1
    for row in rows.values():
        assert "81.2.69.142" not in str(row) and "8.8.8.8" not in str(row)

    # The enriched topic holds the events without the IP; notify=true also went to notifications.
    notified = asyncio.run(consume(kafka, worker.topic("notifications"), 1, timeout=10))
    crawls = [orjson.loads(r.value) for r in notified]
    assert [c["event"] for c in crawls if c["visitor_id"] == visitor] == ["crawl"]
    assert crawls[0]["session_id"] == rows["crawl"]["session_id"] and "ip" not in crawls[0]


def test_sessions_split_after_thirty_minutes_and_reach_the_sink(worker):
    project = worker.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    minutes = [0, 10, 25, 56, 70]  # 25 -> 56 is a 31-minute gap
    events = [
        native_event(
            visitor,
            type="page",
            timestamp=BASE_MS + m * MINUTE_MS,
            context={"page": {"url": f"https://a.test/p{m}"}},
        )
        for m in minutes
    ]
    assert post_batch(worker, project, events).status_code == 202
    rows = wait_rows(worker, project, 5, visitor_id=visitor)
    by_path = {r["path"]: r["session_id"] for r in rows}
    assert by_path["/p0"] == by_path["/p10"] == by_path["/p25"]
    assert by_path["/p56"] == by_path["/p70"] != by_path["/p0"]

    sessions = wait_for(
        lambda: (
            (s := fetch(worker, project, "/v1/sessions", visitor_id=visitor)["sessions"])
            and sum(x["events"] for x in s) == 5
            and s
        )
    )
    assert sessions and len(sessions) == 2, sessions
    first = next(s for s in sessions if s["session_id"] == by_path["/p0"])
    assert (first["events"], first["pageviews"], first["entry_path"], first["exit_path"]) == (
        3,
        3,
        "/p0",
        "/p25",
    )
    assert first["duration_ms"] == 25 * MINUTE_MS


def test_identify_resolves_earlier_anonymous_events_retroactively(worker):
    project = worker.projects[0]
    visitor, user = f"vis_{uuid.uuid4().hex}", f"user_{uuid.uuid4().hex}"
    anonymous = [
        native_event(visitor, event=f"browse{i}", timestamp=BASE_MS + i * 1000) for i in range(2)
    ]
    assert post_batch(worker, project, anonymous).status_code == 202
    wait_rows(worker, project, 2, visitor_id=visitor)
    identify = native_event(
        visitor, type="identify", user_id=user, timestamp=BASE_MS + 5000, traits={"plan": "pro"}
    )
    later = native_event(visitor, event="purchase", timestamp=BASE_MS + 6000)
    assert post_batch(worker, project, [identify]).status_code == 202
    assert post_batch(worker, project, [later]).status_code == 202

    rows = wait_rows(worker, project, 4, user_id=user)
    assert [r["event"] for r in rows] == ["purchase", "identify", "browse1", "browse0"]
    assert all(r["user_id"] == user for r in rows)


def raw_events(project: dict, visitor: str, name: str, count: int = 2, **fields) -> list:
    """``count`` raw events ``<name>0``, ``<name>1``... as another service would publish them."""
    return [
        RawEvent(
            event_id=str(uuid.uuid4()),
            project_id=project["project_id"],
            type="track",
            event=f"{name}{i}",
            timestamp=BASE_MS + i,
            received_at=BASE_MS,
            visitor_id=visitor,
            **fields,
        )
        for i in range(count)
    ]


def test_malformed_records_go_to_the_dead_letter_topic_and_the_agent_goes_on(worker, kafka):
    project = worker.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    key = f"{project['project_id']}\x00{visitor}".encode()
    valid = raw_events(project, visitor, "after", ip="81.2.69.142")
    malformed = [
        b"{not json",
        b"\xff\xfe\x00binary",
        orjson.dumps({"event_id": "x", "project_id": 7}),  # valid JSON, wrong types
    ]
    records = [(key, m) for m in malformed[:2]]
    records += [(key, encode_record(valid[0])), (key, malformed[2]), (key, encode_record(valid[1]))]
    asyncio.run(produce(kafka, worker.topic("raw"), records))

    dead = asyncio.run(consume(kafka, worker.topic("dead"), 3))
    letters = [msgspec.json.decode(r.value, type=DeadLetter) for r in dead]
    assert len(letters) == 3, letters
    assert {d.stage for d in letters} == {"decode"}
    assert all(d.reason and d.topic == worker.topic("raw") for d in letters)
    assert all(r.key == key for r in dead)
    first_offset = min(d.offset for d in letters)  # the 1st, 2nd and 4th records produced
    assert sorted(d.offset - first_offset for d in letters) == [0, 1, 3]
    assert len({d.partition for d in letters}) == 1
    assert letters[0].record == "{not json" and letters[0].encoding == "text"
    binary = next(d for d in letters if d.encoding == "base64")
    assert binary.record == "//4AYmluYXJ5"  # base64 of the original bytes
    assert "project_id" in next(d for d in letters if d.record.startswith('{"event_id"')).reason

    rows = wait_rows(worker, project, 2, visitor_id=visitor)
    assert sorted(r["event"] for r in rows) == ["after0", "after1"]


def test_an_array_record_is_processed_event_by_event_a_bad_element_alone_is_dead(worker, kafka):
    project = worker.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    good = [encode_record(e) for e in raw_events(project, visitor, "arrayed")]
    bad = orjson.dumps({"event_id": "y", "project_id": 8, "visitor_id": visitor})
    value = b"[" + b",".join([good[0], bad, good[1]]) + b"]"
    asyncio.run(produce(kafka, worker.topic("raw"), [(None, value)]))

    rows = wait_rows(worker, project, 2, visitor_id=visitor)
    assert sorted(r["event"] for r in rows) == ["arrayed0", "arrayed1"]
    assert len({r["session_id"] for r in rows}) == 1
    dead = asyncio.run(consume(kafka, worker.topic("dead"), 10**6, timeout=10))
    letters = [msgspec.json.decode(r.value, type=DeadLetter) for r in dead]
    mine = [d for d in letters if '"y"' in d.record]
    assert len(mine) == 1 and mine[0].stage == "decode" and mine[0].record == bad.decode()


def test_a_posted_batch_travels_as_one_record_per_partition_on_each_keys_partition(worker, kafka):
    project = worker.projects[0]
    run = uuid.uuid4().hex
    visitors = [f"vis_{run}_{i}" for i in range(30)]
    events = [native_event(v, event="fanout", message_id=f"{run}-{v}") for v in visitors]
    response = post_batch(worker, project, events)
    assert response.status_code == 202, response.text

    records = asyncio.run(consume(kafka, worker.topic("raw"), 10**6, timeout=10))
    mine = []
    for record in records:
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:  # the malformed records of another test
            continue
        arrayed = value if isinstance(value, list) else [value]
        if any(str(e.get("message_id", "")).startswith(run) for e in arrayed):
            mine.append((record, arrayed))
    assert 1 < len(mine) <= 3  # 30 visitors over 3 partitions: one record each
    assert sum(len(arrayed) for _, arrayed in mine) == 30
    for record, arrayed in mine:
        for event in arrayed:
            key = f"{event['project_id']}\x00{event['visitor_id']}".encode()
            assert partition_of(key, [0, 1, 2]) == record.partition
    assert len(wait_rows(worker, project, 30, event="fanout")) == 30


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_kill_9_mid_stream_then_restart_stores_every_event_once(kafka, tmp_path, store):
    """With RocksDB (production's store) the restarted worker finds its table on disk and
    reads the changelog only past the offset the store persisted."""
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "crash")
    env = worker_env(
        kafka,
        TRACKHOUSE_WORKER_TAKE_RECORDS="4",
        TRACKHOUSE_LOG_LEVEL="info",
        TRACKHOUSE_FAUST_STORE=store,
    )
    first = start_worker(data_dir, env)
    run = uuid.uuid4().hex

    def batch(n: int) -> list[dict]:
        return [
            native_event(
                f"vis_{i % 37}",
                event="load",
                message_id=f"{run}-{n}-{i}",
                timestamp=BASE_MS + n * 1000 + i,
            )
            for i in range(100)
        ]

    def post(server: Worker, batches: range) -> int:
        sent = 0
        with httpx.Client(base_url=server.url, headers=key_headers(project)) as client:
            for n in batches:
                response = client.post("/v1/batch", json={"events": batch(n)})
                assert response.status_code == 202, response.text
                sent += response.json()["accepted"]
        return sent

    def stored(server: Worker) -> int:
        return fetch(server, project, event="load", limit=1)["pagination"]["total"]

    sent = post(first, range(15))
    assert wait_for(lambda: stored(first) > 0, 60), first.log()
    partial = stored(first)
    first.kill()  # mid-stream: some batches inserted, the rest only in Kafka
    second = start_worker(data_dir, env, port=first.port)
    try:
        sent += post(second, range(15, 30))
        assert wait_for(lambda: stored(second) >= sent, 90), report(
            partial,
            stored(second),
            where_missing(
                kafka,
                second,
                {f"{run}-{n}-{i}" for n in range(30) for i in range(100)}
                - stored_ids(second, project, event="load"),
            ),
            second.log()[-6000:],
        )
        assert stored(second) == sent == 3000
        sessions = fetch(second, project, "/v1/sessions", limit=1000)["sessions"]
        assert len(sessions) == 37  # one per visitor: 30 s of event time
        assert sum(s["events"] for s in sessions) == sent  # state survived: nothing counted twice
    finally:
        assert second.stop() == 0, second.log()
    counts = cli(
        data_dir,
        "sql",
        "SELECT count(), uniqExact(message_id) FROM trackhouse.events FINAL WHERE event = 'load'",
    )["rows"]
    assert counts == [[3000, 3000]]


def test_worker_and_embedded_runtime_store_the_same_rows(worker, tmp_path):
    """The same events through ``trackhouse serve`` and ``trackhouse worker``: identical rows,
    but for what depends on the project (ids) or the moment (``received_at``)."""
    run = uuid.uuid4().hex[:8]
    visitors = [f"vis_parity_{run}_{n}" for n in range(3)]
    agents = (CHROME_WINDOWS, IPHONE, GOOGLEBOT)
    events = []
    for n, visitor in enumerate(visitors):
        for i, minute in enumerate((0, 5, 12, 50, 55, 3)):  # a 38-min gap, one late event
            events.append(
                native_event(
                    visitor,
                    type="page" if i % 2 == 0 else "track",
                    event=None if i % 2 == 0 else f"click{i}",
                    message_id=f"{visitor}-{i}",
                    timestamp=BASE_MS + minute * MINUTE_MS + n,
                    properties={"i": i},
                    context={
                        "user_agent": agents[n],
                        "ip": "81.2.69.142" if n != 1 else "8.8.8.8",
                        "page": {"url": f"https://a.test/p{i}?utm_source=s{n}"},
                    },
                )
            )
        events.append(
            native_event(
                visitor,
                type="identify",
                user_id=f"user_{visitor}",
                message_id=f"{visitor}-identify",
                timestamp=BASE_MS + 56 * MINUTE_MS,
                traits={"plan": "pro"},
            )
        )
    for event in events:
        if event.get("event") is None:
            event.pop("event", None)

    data_dir = tmp_path / "data"
    embedded_project = cli(data_dir, "projects", "create", "parity")
    embedded = Server(data_dir).start()
    try:
        results = []
        for server, project in ((embedded, embedded_project), (worker, worker.projects[0])):
            assert post_batch(server, project, events).status_code == 202
            rows, sessions = {}, {}
            for visitor in visitors:
                # by user: all 7 rows, and the identity that resolves the anonymous ones, stored
                for row in wait_rows(
                    server, project, 7, user_id=f"user_{visitor}", include_bots="true"
                ):
                    rows[row["message_id"]] = row
                found = wait_for(
                    lambda s=server, p=project, v=visitor: (
                        (
                            got := fetch(s, p, "/v1/sessions", visitor_id=v, include_bots="true")[
                                "sessions"
                            ]
                        )
                        and sum(x["events"] for x in got) == 7
                        and got
                    )
                )
                assert found, visitor
                for session in found:
                    sessions[(visitor, session["start"])] = session
            results.append((rows, sessions))
    finally:
        assert embedded.stop() == 0, embedded.log()

    (embedded_rows, embedded_sessions), (worker_rows, worker_sessions) = results
    assert len(embedded_rows) == len(worker_rows) == len(events)
    assert len(embedded_sessions) == len(worker_sessions) == 2 * len(visitors)

    def session_of(rows, sessions):  # session ids differ (they derive from the project)
        by_id = {s["session_id"]: key for key, s in sessions.items()}
        return {m: by_id[r["session_id"]] for m, r in rows.items()}

    assert session_of(embedded_rows, embedded_sessions) == session_of(worker_rows, worker_sessions)
    ignored = {"id", "event_id", "project_id", "session_id", "received_at"}
    for message_id, row in embedded_rows.items():
        mine = {k: v for k, v in row.items() if k not in ignored}
        theirs = {k: v for k, v in worker_rows[message_id].items() if k not in ignored}
        assert mine == theirs, message_id
    for key, session in embedded_sessions.items():
        mine = {k: v for k, v in session.items() if k not in {"session_id", "project_id"}}
        theirs = {
            k: v for k, v in worker_sessions[key].items() if k not in {"session_id", "project_id"}
        }
        assert mine == theirs, key


def _metric(worker: Worker, name: str, labels: str) -> float | None:
    for line in httpx.get(worker.url + "/metrics").text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return None


def test_the_leader_purges_never_identified_visitors_past_retention(worker):
    project = worker.projects[0]
    twenty_years_ago = int((time.time() - 20 * 365 * 86400) * 1000)
    anonymous, known = f"vis_{uuid.uuid4().hex}", f"vis_{uuid.uuid4().hex}"
    events = [
        native_event(anonymous, event="old", timestamp=twenty_years_ago),
        native_event(known, event="old", timestamp=twenty_years_ago),
        native_event(known, type="identify", user_id=f"u_{known}", timestamp=twenty_years_ago + 1),
    ]
    assert post_batch(worker, project, events).status_code == 202
    wait_rows(worker, project, 2, visitor_id=known)

    def purged() -> bool:
        gone = fetch(worker, project, visitor_id=anonymous)["pagination"]["total"] == 0
        return (
            gone
            and (_metric(worker, "trackhouse_anonymous_purged_total", 'table="events"') or 0) >= 1
        )

    assert wait_for(purged, 60), worker.log()
    assert fetch(worker, project, visitor_id=known)["pagination"]["total"] == 2  # identified: kept


def test_consumer_lag_is_reported_per_partition(worker):
    def lag_lines() -> list[str]:
        text = httpx.get(worker.url + "/metrics").text
        return [line for line in text.splitlines() if line.startswith("trackhouse_consumer_lag{")]

    assert wait_for(lambda: any(worker.topic("raw") in line for line in lag_lines()), 30)
    assert all(float(line.split()[-1]) >= 0 for line in lag_lines())


def test_no_ip_after_the_raw_topic_in_topics_state_tables_or_logs(kafka, worker):
    """The IP lives only on events.raw (short retention): not on the worker's output topics,
    not in its state changelog, its data dir, ClickHouse or its log."""
    project = worker.projects[0]
    ips = ("203.0.113.77", "198.51.100.23")
    visitor = f"vis_{uuid.uuid4().hex}"
    events = [
        native_event(visitor, type="page", context={"ip": ips[0], "user_agent": CHROME_WINDOWS}),
        native_event(visitor, event="buy", notify=True, timestamp=BASE_MS + 1),
        native_event(visitor, type="identify", user_id=f"u_{visitor}", timestamp=BASE_MS + 2),
    ]
    response = post_batch(worker, project, events, {"X-Forwarded-For": ips[1]})
    assert response.status_code == 202
    wait_rows(worker, project, 3, visitor_id=visitor)

    app_id = worker.env["TRACKHOUSE_FAUST_APP_ID"]
    topics = [worker.topic(n) for n in ("enriched", "identities", "dead", "notifications")]
    topics.append(f"{app_id}-visitor-state-changelog")
    seen = {t: asyncio.run(consume(kafka, t, 10**9, timeout=4)) for t in topics}
    assert seen[worker.topic("enriched")] and seen[f"{app_id}-visitor-state-changelog"]
    raw = asyncio.run(consume(kafka, worker.topic("raw"), 10**9, timeout=4))
    assert any(ips[0].encode() in (r.value or b"") for r in raw)  # the scan can find an IP
    for topic, records in seen.items():
        for r in records:
            blob = (r.value or b"") + (r.key or b"") + b"".join(v for _, v in r.headers or ())
            assert not any(ip.encode() in blob for ip in ips), topic

    for path in worker.data_dir.rglob("*"):
        if path.is_file():
            assert not any(ip.encode() in path.read_bytes() for ip in ips), path
    assert not any(ip in worker.log() for ip in ips)
    rows = fetch(worker, project, visitor_id=visitor)["events"]
    assert len(rows) == 3 and not any(ip in str(rows) for ip in ips)


@pytest.mark.skipif(
    docker_engine_answers() or bool(os.environ.get("TRACKHOUSE_KAFKA_BOOTSTRAP")),
    reason="needs the local broker it can stop",
)
def test_broker_stopped_the_edge_answers_503_then_every_accepted_event_arrives(tmp_path):
    broker = LocalBroker(tmp_path / "kafka")
    bootstrap = broker.start()
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "outage")
    worker = start_worker(data_dir, worker_env(bootstrap))
    run = uuid.uuid4().hex
    accepted = 0

    def send(n: int) -> httpx.Response:
        events = [native_event(f"vis_{i % 5}", event=f"outage-{run}", message_id=f"{run}-{n}-{i}")
                  for i in range(20)]  # fmt: skip
        return post_batch(worker, project, events)

    try:
        assert send(0).status_code == 202
        accepted += 20
        broker.stop()
        refused = send(1)
        assert refused.status_code == 503, refused.text  # never 202 for what it could lose
        assert refused.headers["Retry-After"] and refused.json()["error"] == "unavailable"
        assert httpx.get(worker.url + "/readyz").status_code == 503
        broker.start()
        # A client retries the refused batch with the same message ids (as the SDKs do). The
        # 503 meant "not acknowledged": the producer may still deliver it once the broker is
        # back, and the retry then collapses onto the same event ids.
        for _ in range(60):
            if send(1).status_code == 202:
                accepted += 20
                break
            time.sleep(2)
        assert accepted == 40, worker.log()
        assert send(2).status_code == 202
        accepted += 20
        rows = lambda: fetch(worker, project, event=f"outage-{run}", limit=1)  # noqa: E731
        assert wait_for(lambda: rows()["pagination"]["total"] == accepted, 120), rows()
        time.sleep(2)  # nothing more arrives: exactly the accepted events, once each
        assert rows()["pagination"]["total"] == accepted
    finally:
        assert worker.stop() == 0, worker.log()
        broker.stop()
