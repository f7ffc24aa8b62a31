"""Hostile input on every ingest route (issue 16): deep JSON, non-ASCII keys, odd event names,
sizes after decompression, each dialect's own error shape for 429/503, and exact flattening.
Never a 5xx."""

from __future__ import annotations

import base64
import gzip
import random
import time
import uuid

import httpx
import orjson
import pytest

from tests.integration.helpers import ingestion_warnings as warnings
from tests.integration.helpers import wait_rows
from tests.integration.server import Server, cli, wait_for

pytestmark = pytest.mark.slow
ADMIN = "admin-token-for-hostile-tests"
DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """An embedded server with an admin token, two projects and a privacy-dashboard website."""
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    projects = (cli(data_dir, "projects", "create", "a"), cli(data_dir, "projects", "create", "b"))
    server = Server(data_dir, env={"TRACKHOUSE_ADMIN_TOKEN": ADMIN}).start()
    server.projects = projects
    site = {"name": "s", "domain": "s.test", "projectId": projects[0]["project_id"]}
    answer = httpx.post(
        f"{server.url}/api/v1/websites", json=site, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 201, answer.text
    server.tracking_code = answer.json()["trackingCode"]
    yield server
    assert server.stop() == 0, server.log()


def routes(server) -> list[tuple[str, dict[str, str]]]:
    """Every POST route that reads a JSON body, with the headers that get it past its key."""
    project = server.projects[0]
    write, secret = project["write_key"], project["secret_key"]
    native = {"X-API-Key": write}
    basic = {"Authorization": "Basic " + base64.b64encode(f"{write}:".encode()).decode()}
    return [
        ("/v1/events", native),
        ("/v1/batch", native),
        ("/v1/batch", basic),
        ("/v1/track", basic),
        ("/v1/identify", basic),
        ("/capture/", {}),
        ("/batch/", {}),
        ("/e/", {}),
        ("/i/v0/e/", {}),
        ("/sdk/v1/logs", native),
        ("/sdk/v1/logs/batch", native),
        ("/v1/analytics/collect", {"X-AscendKit-Public-Key": write}),
        ("/v1/analytics/identify", {"X-AscendKit-Secret-Key": secret}),
        ("/v1/analytics/signout", {"X-AscendKit-Secret-Key": secret}),
        ("/api/v1/events", {"X-AscendKit-Secret-Key": secret}),
        ("/api/v1/events", {}),
        ("/api/v1/events/batch", {}),
        ("/api/v1/websites", {"Authorization": f"Bearer {ADMIN}"}),
        ("/admin/v1/projects", {"Authorization": f"Bearer {ADMIN}"}),
    ]


def nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_json_nested_too_deep_is_400_on_every_route(hostile):
    """10,000 levels, and 65 levels inside an otherwise ordinary event: 400, never 5xx."""
    write = hostile.projects[0]["write_key"]
    ordinary = {"api_key": write, "event": "e", "distinct_id": "d", "visitor_id": "v",
                "trackingCode": hostile.tracking_code}  # fmt: skip
    failures = []
    for path, headers in routes(hostile):
        deep = DEEP if not path.startswith("/admin") else DEEP[8000:-8000]  # (4 KB bodies)
        for body in (deep, orjson.dumps({**ordinary, "properties": nested(65)})):
            response = httpx.post(hostile.url + path, content=body, headers=headers)
            if response.status_code != 400:
                failures.append((path, len(body), response.status_code, response.text[:200]))
    assert not failures, failures


def test_a_non_ascii_key_is_401(hostile):
    key = "ключ-é-🔑".encode()  # sent as UTF-8 bytes; the server reads header bytes as latin-1
    for path, header in (
        ("/v1/events", {"Authorization": b"Bearer " + key}),
        ("/v1/events", {"X-API-Key": key}),
        ("/admin/v1/projects", {"Authorization": b"Bearer " + key}),
        ("/api/v1/websites", {"Authorization": b"Bearer " + key}),
        ("/v1/analytics/identify", {"X-AscendKit-Secret-Key": key}),
        ("/v1/track", {"Authorization": b"Basic " + key}),
        ("/v1/batch", {"Authorization": b"Basic " + key}),
    ):
        body = {"name": "n", "batch": [{"type": "track", "event": "e", "userId": "u"}]}
        response = httpx.post(hostile.url + path, json=body, headers=header)
        assert response.status_code == 401, (path, response.status_code, response.text)


@pytest.mark.parametrize("name", [{"a": 1}, ["pageview"], 5, True])
def test_an_event_name_that_is_not_text_is_422(hostile, name):
    write = hostile.projects[0]["write_key"]
    body = {"eventName": name, "visitorId": "vis_1"}
    response = httpx.post(
        f"{hostile.url}/v1/analytics/collect", json=body, headers={"X-AscendKit-Public-Key": write}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "event"


def test_sizes_are_limited_after_decompression_on_every_route(hostile):
    """32 KB per event, 500 KB per batch, counted after gunzip, whatever the dialect."""
    write = hostile.projects[0]["write_key"]
    big = {f"p{i}": "x" * 7000 for i in range(60)}  # one 420 KB event: gzips to ~2 KB
    noise = random.Random(7)
    # 1.6 MB that gzips ~4:1: under the 500 KB read limit, three times past it once gunzipped
    huge = [
        {
            "event": "e",
            "distinct_id": "d",
            "properties": {"p": "".join(noise.choices("abcd", k=8000))},
        }
        for _ in range(200)
    ]
    gzipped = gzip.compress(orjson.dumps({"api_key": write, "batch": huge}))
    assert len(gzipped) < 500 * 1024
    response = httpx.post(f"{hostile.url}/batch/?compression=gzip-js", content=gzipped)
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "validation_error"
    one_big = {"api_key": write, "event": "e", "distinct_id": "d", "properties": big}
    gzipped = gzip.compress(orjson.dumps({"api_key": write, "batch": [one_big]}))
    response = httpx.post(f"{hostile.url}/batch/?compression=gzip-js", content=gzipped)
    assert response.status_code == 413, response.text

    def kitbase(tags):
        return {"event": "e", "channel": "c", "user_id": "u", "tags": tags}

    response = httpx.post(
        f"{hostile.url}/sdk/v1/logs/batch",
        json={"events": [kitbase({"p": "ok"}), kitbase(big)]},
        headers={"X-API-Key": write},
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 1 and answer["errors"][0]["index"] == 1
    assert answer["errors"][0]["error"] == "payload_too_large"

    collect = [{"eventName": "ok", "visitorId": "vis_a"},
               {"eventName": "big", "visitorId": "vis_a", "properties": big}]  # fmt: skip
    response = httpx.post(
        f"{hostile.url}/v1/analytics/collect",
        json={"batch": collect},
        headers={"X-AscendKit-Public-Key": write},
    )
    assert response.status_code == 202, response.text
    assert response.json()["errors"][0]["error"] == "payload_too_large"

    site = {"trackingCode": hostile.tracking_code, "eventType": "custom", "url": "https://s.test/",
            "sessionId": "s", "visitorId": "v"}  # fmt: skip
    response = httpx.post(
        f"{hostile.url}/api/v1/events/batch",
        json={"events": [site, {**site, "properties": big}]},
    )
    assert response.status_code == 207, response.text
    assert response.json()["errors"][0]["index"] == 1


def test_segment_flattening_keeps_values_exact(hostile):
    """A dotted key that meets a nested one, and integers past 64 bits: nothing silently lost."""
    project = hostile.projects[1]
    visitor = f"flat-{uuid.uuid4().hex[:8]}"
    big, bigger = 2**64 + 1, -(2**70)
    body = (
        b'{"type":"track","event":"flat","anonymousId":"' + visitor.encode() + b'",'
        b'"properties":{"a.b":"dotted","a":{"b":"nested"},"big":' + str(big).encode() + b","
        b'"bigger":' + str(bigger).encode() + b',"plain":9007199254740993}}'
    )
    response = httpx.post(f"{hostile.url}/v1/track", content=body, auth=(project["write_key"], ""))
    assert response.status_code == 200, response.text
    [row] = wait_rows(hostile, project, 1, visitor_id=visitor)
    properties = row["properties"]
    assert properties["a.b"] == "dotted"
    assert properties["big"] == str(big) and properties["bigger"] == str(bigger)
    assert properties["plain"] == 9007199254740993
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = warnings(hostile, project, type="property_key_collision")
        if found:
            break
        time.sleep(0.3)
    assert found and found[0]["details"]["key"] == "properties.a.b", found
    assert found[0]["details"]["dropped"] == "nested"


@pytest.fixture(scope="module")
def strained(tmp_path_factory):
    """A server that sheds load once an event has waited 2 s for storage (it flushes every
    60 s) and takes at most 20 events per key (or per project, for tracking codes) in a burst."""
    data_dir = tmp_path_factory.mktemp("strained") / "data"
    project = cli(data_dir, "projects", "create", "a")
    env = {
        "TRACKHOUSE_ADMIN_TOKEN": ADMIN,
        "TRACKHOUSE_SINK_FLUSH_SECONDS": "60",
        "TRACKHOUSE_MAX_BACKLOG_SECONDS": "2",
        "TRACKHOUSE_RATE_LIMIT_EVENTS_PER_SECOND": "0.001",
        "TRACKHOUSE_RATE_LIMIT_BURST_EVENTS": "20",
    }
    server = Server(data_dir, env=env).start()
    server.projects = (project,)
    site = {"name": "s", "domain": "s.test", "projectId": project["project_id"]}
    answer = httpx.post(
        f"{server.url}/api/v1/websites", json=site, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 201, answer.text
    server.tracking_code = answer.json()["trackingCode"]
    yield server
    server.kill()  # (a clean stop would wait out the 60 s flush; nothing here needs storing)


def dialect_requests(server, count: int) -> dict[str, tuple[str, dict]]:
    """One request per dialect carrying ``count`` valid events."""
    write = server.projects[0]["write_key"]
    segment = [{"type": "track", "event": "e", "anonymousId": "a"}] * count
    site = {"trackingCode": server.tracking_code, "eventType": "custom", "url": "https://s.test/",
            "sessionId": "s", "visitorId": "v"}  # fmt: skip
    return {
        "segment": ("/v1/batch", {"json": {"batch": segment}, "auth": (write, "")}),
        "posthog": (
            "/batch/",
            {"json": {"api_key": write, "batch": [{"event": "e", "distinct_id": "d"}] * count}},
        ),
        "kitbase": (
            "/sdk/v1/logs/batch",
            {
                "json": {"events": [{"event": "e", "channel": "c", "user_id": "u"}] * count},
                "headers": {"X-API-Key": write},
            },
        ),
        "ascendkit": (
            "/v1/analytics/collect",
            {
                "json": {"batch": [{"eventName": "e", "visitorId": "vis_1"}] * count},
                "headers": {"X-AscendKit-Public-Key": write},
            },
        ),
        "privacy": ("/api/v1/events/batch", {"json": {"events": [site] * count}}),
    }


def error_shape(dialect: str, body: dict) -> tuple:
    """The fields that make each dialect's error body its own."""
    if dialect == "segment":
        return body["success"], body["code"]
    if dialect == "posthog":
        return body["type"], body["code"]
    if dialect == "privacy":
        return (body["error"],)
    return body["error"], body["field"]  # Kitbase, AscendKit: the native shape


def test_503_and_429_in_each_dialects_own_shape(strained):
    first = httpx.post(
        f"{strained.url}/v1/events",
        json={"event": "e", "visitor_id": "v"},
        headers={"X-API-Key": strained.projects[0]["write_key"]},
    )
    assert first.status_code == 202, first.text
    # Rate limits are charged for accepted events only (a 503 gives its tokens back), so the
    # tracking code's bucket (its project's) is spent by one accepted event too.
    _, privacy = dialect_requests(strained, 1)["privacy"]
    spent = httpx.post(f"{strained.url}/api/v1/events/batch", **privacy)
    assert spent.status_code == 201, spent.text
    assert wait_for(lambda: httpx.get(f"{strained.url}/readyz").status_code == 503, 15)
    # now the storage process is behind: every publish is refused
    unavailable = {
        "segment": (False, "unavailable"),
        "posthog": ("server_error", "service_unavailable"),
        "kitbase": ("unavailable", None),
        "ascendkit": ("unavailable", None),
        "privacy": ("UNAVAILABLE",),
    }
    throttled = {
        "segment": (False, "rate_limited"),
        "posthog": ("throttled", "rate_limited"),
        "kitbase": ("rate_limited", None),
        "ascendkit": ("rate_limited", None),
        "privacy": ("RATE_LIMITED",),
    }
    for status, count, expected in ((503, 1, unavailable), (429, 30, throttled)):
        for dialect, (path, kwargs) in dialect_requests(strained, count).items():
            response = httpx.post(strained.url + path, **kwargs)
            assert response.status_code == status, (dialect, response.text)
            assert error_shape(dialect, response.json()) == expected[dialect], response.text
            assert int(response.headers["Retry-After"]) >= 1, dialect
