"""``GET /v1/stream`` (Server-Sent Events) from a real embedded server."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.helpers import StreamReader, key_headers, read_headers
from tests.integration.server import Server, cli, wait_for


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("stream") / "data"
    projects = tuple(cli(data_dir, "projects", "create", name) for name in ("alpha", "beta"))
    server = Server(data_dir, env={"TRACKHOUSE_STREAM_MAX_CLIENTS": "3"}).start()
    server.projects = projects
    yield server
    assert server.stop() == 0, server.log()


def send(server, project, count: int, channel: str) -> dict[str, float]:
    """Event id -> when it was posted (monotonic)."""
    posted = {}
    for i in range(count):
        event = {"event": f"live_{i}", "visitor_id": f"v{i % 4}", "channel": channel}
        answer = httpx.post(f"{server.url}/v1/events", json=event, headers=key_headers(project))
        assert answer.status_code == 202, answer.text
        posted[answer.json()["id"]] = time.monotonic()
    return posted


def test_new_events_stream_within_a_second_filtered_like_the_events_api(stream_server):
    server, (alpha, beta) = stream_server, stream_server.projects
    send(server, alpha, 3, "before")  # stored before the client connects: not news
    wait_for(lambda: False, 1.5)
    url = f"{server.url}/v1/stream"
    everything = StreamReader(url, {"key": alpha["secret_key"]})  # browsers: ?key=
    ops_only = StreamReader(url, {"channel": "ops"}, read_headers(alpha))
    assert everything.status == ops_only.status == 200
    wait_for(lambda: False, 1.0)
    posted = send(server, alpha, 10, "ops") | send(server, alpha, 5, "web")
    send(server, beta, 5, "ops")  # another project's: never shown
    assert wait_for(lambda: everything.ids() >= set(posted), 15), everything.events
    assert wait_for(lambda: len(ops_only.ids()) >= 10, 5)
    wait_for(lambda: False, 1.0)
    assert everything.ids() == set(posted)
    assert {d["channel"] for _, d in ops_only.events} == {"ops"} and len(ops_only.ids()) == 10
    lags = sorted(everything.arrived[i] - posted[i] for i in posted)
    # within 1 s as a rule (0.2 s flush + 0.5 s poll); a margin for a busy CI machine
    assert lags[len(lags) // 2] < 1.5, lags
    cursor, first = everything.events[0]
    assert cursor.endswith("_" + first["id"]) and first["event"].startswith("live_")
    assert set(first) >= {"id", "event", "channel", "timestamp", "received_at", "properties"}
    everything.close()
    ops_only.close()


def test_a_reconnect_with_last_event_id_misses_nothing(stream_server):
    server, (alpha, _) = stream_server, stream_server.projects
    url = f"{server.url}/v1/stream"
    reader = StreamReader(url, {"channel": "resume"}, read_headers(alpha))
    wait_for(lambda: False, 1.0)
    first = send(server, alpha, 5, "resume")
    assert wait_for(lambda: reader.ids() >= set(first), 15)
    last_id = reader.events[-1][0]
    reader.close()
    missed = send(server, alpha, 8, "resume")  # while no one listens
    wait_for(lambda: False, 1.5)
    again = StreamReader(
        url, {"channel": "resume"}, {**read_headers(alpha), "Last-Event-ID": last_id}
    )
    later = send(server, alpha, 4, "resume")
    assert wait_for(lambda: again.ids() >= set(missed) | set(later), 15), again.events
    again.close()


def test_keys_and_the_per_project_cap(stream_server):
    server, (alpha, beta) = stream_server, stream_server.projects
    url = f"{server.url}/v1/stream"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=key_headers(alpha)).status_code == 403
    assert httpx.get(url, headers={**read_headers(alpha), "Last-Event-ID": "x"}).status_code == 422
    readers = [StreamReader(url, headers=read_headers(alpha)) for _ in range(3)]
    assert [r.status for r in readers] == [200, 200, 200]
    refused = httpx.get(url, headers=read_headers(alpha))
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_streams"
    assert StreamReader(url, headers=read_headers(beta)).status == 200  # per project
    for r in readers:
        r.close()
    # a client that hung up frees its place
    assert wait_for(lambda: StreamReader(url, headers=read_headers(alpha)).status == 200, 10)
