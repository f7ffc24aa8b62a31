"""End to end through a running embedded server: HTTP -> stages -> chDB -> read API."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.integration.helpers import (
    CHROME_WINDOWS,
    GOOGLEBOT,
    IPHONE,
    fetch,
    key_headers,
    post_batch,
    read_headers,
    wait_rows,
)
from tests.integration.server import Server, cli, wait_for

MINUTE_MS = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_enrichment_from_user_agent_ip_and_page(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    page = {
        "url": "https://shop.test/pricing?utm_source=newsletter&utm_medium=email&utm_campaign="
        "launch",
        "referrer": "https://www.google.com/search?q=x",
    }
    events = [
        {
            "type": "page",
            "visitor_id": visitor,
            "timestamp": T0,
            "context": {"user_agent": CHROME_WINDOWS, "ip": "81.2.69.142", "page": page},
        },
        {
            "event": "tap",
            "visitor_id": visitor,
            "timestamp": T0 + 1000,
            "context": {"user_agent": IPHONE},
        },
        {
            "event": "crawl",
            "visitor_id": visitor,
            "timestamp": T0 + 2000,
            "context": {"user_agent": GOOGLEBOT},
        },
    ]
    # The request's own IP (X-Forwarded-For from the trusted loopback proxy) fills the gaps.
    response = post_batch(embedded, project, events, {"X-Forwarded-For": "8.8.8.8"})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 3, "total": 3, "errors": []}
    rows = {
        r["event"]: r
        for r in wait_rows(embedded, project, 3, visitor_id=visitor, include_bots="true")
    }

    assert set(rows) == {"pageview", "tap", "crawl"}, rows
    chrome = rows["pageview"]
    assert (chrome["browser"], chrome["os"], chrome["device_type"]) == (
        "Chrome",
        "Windows",
        "desktop",
    )
    assert chrome["browser_version"].startswith("120")
    assert (chrome["country"], chrome["region"], chrome["city"]) == ("GB", "England", "London")
    assert chrome["path"] == "/pricing"
    assert chrome["referrer_domain"] == "google.com"
    assert (chrome["utm_source"], chrome["utm_medium"], chrome["utm_campaign"]) == (
        "newsletter",
        "email",
        "launch",
    )
    assert chrome["is_bot"] is False

    iphone = rows["tap"]
    assert (iphone["device_type"], iphone["device_brand"], iphone["os"]) == (
        "mobile",
        "Apple",
        "iOS",
    )
    assert (iphone["country"], iphone["city"]) == ("US", "Mountain View")

    bot = rows["crawl"]
    assert bot["is_bot"] is True and bot["device_type"] == "bot"

    for row in rows.values():
        assert "ip" not in row
        assert "81.2.69.142" not in str(row) and "8.8.8.8" not in str(row)
    assert fetch(embedded, project, country="GB", visitor_id=visitor)["pagination"]["total"] == 1
    # bot traffic is flagged; raw reads show every event, and is_bot filters
    default = fetch(embedded, project, visitor_id=visitor)["events"]
    assert {r["event"] for r in default} == {"pageview", "tap", "crawl"}
    humans = fetch(embedded, project, visitor_id=visitor, is_bot="false")["events"]
    assert {r["event"] for r in humans} == {"pageview", "tap"}
    assert [
        r["event"] for r in fetch(embedded, project, visitor_id=visitor, is_bot="true")["events"]
    ] == ["crawl"]
    assert fetch(embedded, project, is_bot="true", visitor_id=visitor)["pagination"]["total"] == 1


def test_sessions_split_after_thirty_minutes_of_inactivity(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    minutes = [0, 10, 25, 56, 70]  # gap 25 -> 56 is 31 minutes
    events = [
        {
            "type": "page",
            "visitor_id": visitor,
            "timestamp": T0 + m * MINUTE_MS,
            "context": {"page": {"url": f"https://a.test/p{m}"}},
        }
        for m in minutes
    ]
    assert post_batch(embedded, project, events).status_code == 202
    rows = wait_rows(embedded, project, 5, visitor_id=visitor)
    by_path = {r["path"]: r["session_id"] for r in rows}
    assert by_path["/p0"] == by_path["/p10"] == by_path["/p25"]
    assert by_path["/p56"] == by_path["/p70"] != by_path["/p0"]

    sessions = wait_rows(embedded, project, 2, "/v1/sessions", visitor_id=visitor)
    assert len(sessions) == 2
    first = next(s for s in sessions if s["session_id"] == by_path["/p0"])
    assert (first["events"], first["pageviews"], first["entry_path"], first["exit_path"]) == (
        3,
        3,
        "/p0",
        "/p25",
    )
    assert first["duration_ms"] == 25 * MINUTE_MS and first["is_bounce"] is False


def test_out_of_order_event_joins_its_session_and_updates_the_session_row(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    first = [
        {
            "type": "page",
            "visitor_id": visitor,
            "timestamp": T0 + m * MINUTE_MS,
            "context": {"page": {"url": f"https://a.test/p{m}"}},
        }
        for m in (0, 20)
    ]
    assert post_batch(embedded, project, first).status_code == 202
    wait_rows(embedded, project, 2, visitor_id=visitor)
    late = {
        "type": "page",
        "visitor_id": visitor,
        "timestamp": T0 + 40 * MINUTE_MS,
        "context": {"page": {"url": "https://a.test/late"}},
    }
    assert post_batch(embedded, project, [late]).status_code == 202
    rows = wait_rows(embedded, project, 3, visitor_id=visitor)
    assert len({r["session_id"] for r in rows}) == 1
    session = wait_for(
        lambda: [
            s
            for s in fetch(embedded, project, "/v1/sessions", visitor_id=visitor)["sessions"]
            if s["events"] == 3
        ]
    )
    assert session and session[0]["exit_path"] == "/late"


def test_identify_resolves_earlier_anonymous_events_to_the_user(embedded):
    project = embedded.projects[0]
    visitor, user = f"vis_{uuid.uuid4().hex}", f"user_{uuid.uuid4().hex}"
    anonymous = [
        {
            "event": f"browse{i}",
            "visitor_id": visitor,
            "timestamp": T0 + i * 1000,
            "context": {"page": {"url": f"https://a.test/?utm_source=ad{i}"}},
        }
        for i in range(2)
    ]
    assert post_batch(embedded, project, anonymous).status_code == 202
    wait_rows(embedded, project, 2, visitor_id=visitor)
    identify = {
        "type": "identify",
        "visitor_id": visitor,
        "user_id": user,
        "timestamp": T0 + 5000,
        "traits": {"plan": "pro"},
    }
    response = httpx.post(
        f"{embedded.url}/v1/events",
        json=identify,
        headers={"Authorization": f"Bearer {project['write_key']}"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["event"] == "identify"
    later = {"event": "purchase", "visitor_id": visitor, "timestamp": T0 + 6000}
    assert post_batch(embedded, project, [later]).status_code == 202

    rows = wait_rows(embedded, project, 4, user_id=user)
    assert {r["event"] for r in rows} == {"browse0", "browse1", "identify", "purchase"}
    assert all(r["user_id"] == user for r in rows)
    assert [r["event"] for r in rows] == ["purchase", "identify", "browse1", "browse0"]
    # Read by visitor (not by user), the anonymous rows resolve the same way.
    by_visitor = fetch(embedded, project, visitor_id=visitor)["events"]
    assert [(r["event"], r["user_id"]) for r in by_visitor] == [
        ("purchase", user),
        ("identify", user),
        ("browse1", user),
        ("browse0", user),
    ]


def test_duplicate_message_ids_store_one_row(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    event = {"event": "signup", "visitor_id": visitor, "message_id": f"m-{uuid.uuid4()}"}
    first = httpx.post(f"{embedded.url}/v1/events", json=event, headers=key_headers(project))
    again = httpx.post(f"{embedded.url}/v1/events", json=event, headers=key_headers(project))
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert post_batch(embedded, project, [event, event]).status_code == 202
    marker = {"event": "marker", "visitor_id": visitor}
    assert post_batch(embedded, project, [marker]).status_code == 202
    wait_rows(embedded, project, 1, visitor_id=visitor, event="marker")
    body = fetch(embedded, project, visitor_id=visitor, event="signup")
    assert body["pagination"]["total"] == 1
    sessions = fetch(embedded, project, "/v1/sessions", visitor_id=visitor)["sessions"]
    assert sum(s["events"] for s in sessions) == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "field"),
    [
        ("/v1/events", b"{oops", 400, "invalid_json", None),
        ("/v1/events", b'{"visitor_id": "v"}', 400, "missing_field", "event"),
        ("/v1/events", b'{"event": "x"}', 400, "missing_field", "visitor_id"),
        (
            "/v1/events",
            b'{"event": "x", "visitor_id": "v", "properties": {"a": {}}}',
            422,
            "invalid_field",
            "properties.a",
        ),
        ("/v1/events", b'{"event": "x", "visitor_id": 7}', 422, "invalid_field", "visitor_id"),
        (
            "/v1/events",
            b'{"event": "x", "visitor_id": "v", "pad": "' + b"a" * 33_000 + b'"}',
            413,
            "payload_too_large",
            None,
        ),
        (
            "/v1/batch",
            b'{"events": ['
            + b'{"event": "x", "visitor_id": "v"},' * 16_000
            + b'{"event": "x", "visitor_id": "v"}]}',
            413,
            "payload_too_large",
            None,
        ),
        ("/v1/batch", b'{"events": []}', 400, "missing_field", "events"),
        ("/v1/batch", b'{"events": [{"visitor_id": "v"}]}', 400, None, None),
    ],
)
def test_error_statuses_name_the_field(embedded, path, body, status, error, field):
    response = httpx.post(
        embedded.url + path,
        content=body,
        headers={**key_headers(embedded.projects[0]), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    payload = response.json()
    if error:
        assert (payload["error"], payload["field"]) == (error, field)
        assert payload["message"]
    else:
        assert payload["accepted"] == 0 and payload["errors"][0]["field"] == "event"


def test_partly_invalid_batch_keeps_the_valid_events(embedded):
    project = embedded.projects[0]
    visitor = f"vis_{uuid.uuid4().hex}"
    events = [
        {"event": "ok", "visitor_id": visitor},
        {"visitor_id": visitor},
        {"event": "typed", "visitor_id": visitor, "notify": "yes"},
    ]
    response = post_batch(embedded, project, events)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["total"]) == (1, 3)
    assert [(e["index"], e["error"], e["field"]) for e in body["errors"]] == [
        (1, "missing_field", "event"),
        (2, "invalid_field", "notify"),
    ]
    assert wait_rows(embedded, project, 1, visitor_id=visitor)[0]["event"] == "ok"


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "th_unknown"}, {"Authorization": "Bearer x"}]
)
def test_missing_or_unknown_key_is_401(embedded, headers):
    for method, path in (
        ("POST", "/v1/events"),
        ("POST", "/v1/batch"),
        ("GET", "/v1/events"),
        ("GET", f"/v1/events/{uuid.uuid4()}"),
        ("GET", "/v1/sessions"),
    ):
        response = httpx.request(
            method, embedded.url + path, headers=headers, json={"event": "x", "visitor_id": "v"}
        )
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "unauthorized"


def test_one_projects_key_cannot_read_anothers_events(embedded):
    alpha, beta = embedded.projects
    visitor = f"vis_{uuid.uuid4().hex}"
    accepted = httpx.post(
        f"{embedded.url}/v1/events",
        headers=key_headers(alpha),
        json={"event": "secret", "visitor_id": visitor},
    )
    event_id = accepted.json()["id"]
    wait_rows(embedded, alpha, 1, visitor_id=visitor)
    assert (
        httpx.get(f"{embedded.url}/v1/events/{event_id}", headers=read_headers(alpha)).status_code
        == 200
    )
    assert fetch(embedded, beta, visitor_id=visitor)["pagination"]["total"] == 0
    response = httpx.get(f"{embedded.url}/v1/events/{event_id}", headers=read_headers(beta))
    assert response.status_code == 404
    # every read endpoint: sessions too, and no filter reaches across projects
    wait_for(lambda: fetch(embedded, alpha, "/v1/sessions", visitor_id=visitor)["sessions"])
    assert fetch(embedded, beta, "/v1/sessions", visitor_id=visitor)["sessions"] == []
    assert fetch(embedded, beta, project_id=alpha["project_id"])["pagination"]["total"] == 0


def test_a_write_key_sends_but_cannot_read(embedded):
    project = embedded.projects[0]
    for path in ("/v1/events", "/v1/sessions", "/v1/events/00000000-0000-0000-0000-000000000000"):
        response = httpx.get(embedded.url + path, headers=key_headers(project))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "forbidden"
    secret_write = httpx.post(
        f"{embedded.url}/v1/events",
        headers=read_headers(project),
        json={"event": "server_side", "user_id": "u-secret"},
    )
    assert secret_write.status_code == 202


def test_limit_and_offset_paginate_newest_first(embedded):
    project = embedded.projects[1]
    visitor = f"vis_{uuid.uuid4().hex}"
    events = [{"event": f"e{i}", "visitor_id": visitor, "timestamp": T0 + i} for i in range(5)]
    assert post_batch(embedded, project, events).status_code == 202
    wait_rows(embedded, project, 5, visitor_id=visitor)
    page = fetch(embedded, project, visitor_id=visitor, limit=2, offset=1)
    assert [r["event"] for r in page["events"]] == ["e3", "e2"]
    assert page["pagination"] == {"total": 5, "limit": 2, "offset": 1}
    response = httpx.get(
        f"{embedded.url}/v1/events", params={"limit": 1001}, headers=read_headers(project)
    )
    assert response.status_code == 422 and response.json()["field"] == "limit"


def test_kill_9_right_after_202_loses_nothing_and_restart_resumes(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "crash")
    server = Server(data_dir, env={"TRACKHOUSE_SINK_FLUSH_SECONDS": "5"}).start()
    run = uuid.uuid4().hex
    sent = 0
    with httpx.Client(base_url=server.url, headers=key_headers(project)) as client:
        for batch in range(20):
            events = [
                {
                    "event": "load",
                    "visitor_id": f"vis_{i % 37}",
                    "message_id": f"{run}-{batch}-{i}",
                    "timestamp": T0 + batch * 1000 + i,
                }
                for i in range(100)
            ]
            response = client.post("/v1/batch", json={"events": events})
            assert response.status_code == 202
            sent += response.json()["accepted"]
    server.kill()  # before the 5 s flush: the rows exist only in the spool
    restarted = Server(data_dir, port=server.port).start()
    try:
        total = wait_for(
            lambda: fetch(restarted, project, event="load", limit=1)["pagination"]["total"] >= sent,
            60,
        )
        body = fetch(restarted, project, event="load", limit=1)
        assert total and body["pagination"]["total"] == sent == 2000
        sessions = fetch(restarted, project, "/v1/sessions", limit=1000)["sessions"]
        assert sum(s["events"] for s in sessions) == sent
        assert len(sessions) == 37
    finally:
        assert restarted.stop() == 0, restarted.log()


def test_sigterm_drains_and_state_survives_a_restart(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "drain")
    server = Server(data_dir, env={"TRACKHOUSE_SINK_FLUSH_SECONDS": "30"}).start()
    page = {"url": "https://a.test/landing?utm_source=ads"}
    events = [
        {"type": "page", "visitor_id": "v", "timestamp": T0 + i * 1000, "context": {"page": page}}
        for i in range(50)
    ]
    events.append(
        {
            "type": "identify",
            "visitor_id": "v",
            "user_id": "u1",
            "timestamp": T0 + 60_000,
            "traits": {"plan": "pro"},
        }
    )
    assert post_batch(server, project, events).status_code == 202
    assert server.stop() == 0, server.log()

    # The drain flushed everything (the 30 s flush interval never came): rows are there at once.
    assert cli(data_dir, "sql", "SELECT count() FROM trackhouse.events FINAL")["rows"] == [[51]]
    user = cli(
        data_dir,
        "sql",
        "SELECT first_landing_path, first_utm_source, traits "
        "FROM trackhouse.users_current WHERE user_id = 'u1'",
    )["rows"]
    assert user == [["/landing", "ads", '{"plan":"pro"}']]

    restarted = Server(data_dir).start()
    try:
        before = fetch(restarted, project, event="identify")["events"][0]
        later = {"event": "after", "visitor_id": "v", "timestamp": T0 + 11 * MINUTE_MS}
        assert post_batch(restarted, project, [later]).status_code == 202
        [row] = wait_rows(restarted, project, 1, event="after")
        assert row["session_id"] == before["session_id"]  # the session went on across the restart
        assert row["user_id"] == "u1"  # and so did the identity
    finally:
        restarted.stop()


def test_projects_cli_refuses_while_the_server_owns_the_data_dir(embedded):
    import subprocess

    with pytest.raises(subprocess.CalledProcessError) as caught:
        cli(embedded.data_dir, "projects", "create", "late")
    assert b"another trackhouse process" in caught.value.stderr


def test_the_ip_is_stored_nowhere(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "privacy")
    server = Server(data_dir, env={"TRACKHOUSE_LOG_LEVEL": "debug"}).start()
    events = [
        {"event": "a", "visitor_id": "v1", "context": {"ip": "81.2.69.142"}},
        {"event": "b", "visitor_id": "v2"},  # takes the X-Forwarded-For address
    ]
    response = post_batch(server, project, events, {"X-Forwarded-For": "8.8.4.4"})
    assert response.status_code == 202
    rows = wait_rows(server, project, 2)
    assert {r["country"] for r in rows} == {"GB", "US"}  # the IPs were used...
    assert server.stop() == 0
    needles = (b"81.2.69.142", b"8.8.4.4")
    for path in [p for p in data_dir.rglob("*") if p.is_file()] + [server.log_path]:
        content = path.read_bytes()
        assert not any(n in content for n in needles), f"an IP was written to {path}"
    tables = cli(
        data_dir,
        "sql",
        "SELECT name FROM system.tables WHERE database = 'trackhouse' "
        "AND engine NOT IN ('View', 'MaterializedView')",
    )["rows"]
    assert {t[0] for t in tables} >= {"events", "sessions", "identities", "users", "projects"}
    for (table,) in tables:
        hits = cli(
            data_dir,
            "sql",
            f"SELECT count() FROM trackhouse.{table} WHERE "
            "toJSONString(tuple(*)) LIKE '%81.2.69.142%' OR "
            "toJSONString(tuple(*)) LIKE '%8.8.4.4%'",
        )["rows"]
        assert hits == [[0]], table  # ...and then dropped


@pytest.mark.parametrize(
    ("limit", "pause"),
    [
        # ~50 events are well over 20 kB of spool: nothing more until the 3 s flush
        ({"TRACKHOUSE_MAX_BACKLOG_BYTES": "20000"}, 0.0),
        # the first batch waits for the 3 s flush: 0.8 s later it is past the 0.5 s limit
        ({"TRACKHOUSE_MAX_BACKLOG_SECONDS": "0.5"}, 0.8),
    ],
    ids=["bytes", "seconds"],
)
def test_the_edge_sheds_load_with_503_while_the_storage_process_is_behind(tmp_path, limit, pause):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "backlog")
    env = {"TRACKHOUSE_SINK_FLUSH_SECONDS": "3", **limit}
    server = Server(data_dir, env=env).start()
    run = uuid.uuid4().hex
    try:
        with httpx.Client(base_url=server.url, headers=key_headers(project)) as client:

            def post(n: int) -> httpx.Response:
                events = [
                    {"event": "flood", "visitor_id": "v", "message_id": f"{run}-{n}-{i}"}
                    for i in range(50)
                ]
                return client.post("/v1/batch", json={"events": events})

            statuses = [post(0)]
            time.sleep(pause)
            statuses += [post(n) for n in range(1, 4)]
            assert statuses[0].status_code == 202
            shed = [r for r in statuses[1:] if r.status_code == 503]
            assert shed, [r.status_code for r in statuses]
            assert shed[0].headers["Retry-After"] and shed[0].json()["error"] == "unavailable"
            assert "behind" in shed[0].json()["message"], shed[0].json()  # and says why
            accepted = sum(r.json()["accepted"] for r in statuses if r.status_code == 202)
            later = wait_for(lambda: (r := post(99)).status_code == 202 and r, 30)
            assert later, "the edge kept refusing after the storage process caught up"
            accepted += later.json()["accepted"]
        total = wait_for(
            lambda: (
                fetch(server, project, event="flood", limit=1)["pagination"]["total"] == accepted
            ),
            30,
        )
        assert total, fetch(server, project, event="flood", limit=1)["pagination"]
    finally:
        server.stop()


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "limited")
    env = {
        "TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "5",
        "TRACKHOUSE_RATE_LIMIT_BURST_EVENTS": "20",
    }
    server = Server(data_dir, env=env).start()
    try:
        events = [{"event": "x", "visitor_id": "v"}] * 20
        assert post_batch(server, project, events).status_code == 202
        refused = post_batch(server, project, events[:10])
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) == 2  # 10 tokens at 5/s
    finally:
        server.stop()


def test_readyz_reports_clickhouse_and_publisher(embedded):
    response = httpx.get(embedded.url + "/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"clickhouse": True, "publisher": True},
    }
