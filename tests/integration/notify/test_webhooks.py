"""Webhook deliveries from a real embedded server to a real local receiver process."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import (
    NOTIFY_ENV,
    Receiver,
    admin,
    key_headers,
    post_batch,
    read_headers,
)
from tests.integration.server import Server, cli, wait_for

SECRET = "whsec_test_secret"


@pytest.fixture(scope="module")
def notify_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("notify") / "data"
    project = cli(data_dir, "projects", "create", "alpha")
    server = Server(data_dir, env=NOTIFY_ENV).start()
    server.projects = (project,)
    yield server
    assert server.stop() == 0, server.log()


def add_destination(server, project, **document) -> dict:
    answer = admin(
        server, "POST", f"/projects/{project['project_id']}/notifications/destinations",
        json=document,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()


def notify_events(count: int, prefix: str, **extra) -> list[dict]:
    return [
        {"type": "track", "event": f"{prefix}_{i}", "channel": "ops", "notify": True,
         "visitor_id": f"v{i % 3}", **extra}
        for i in range(count)
    ]  # fmt: skip


def send(server, project, events: list[dict]) -> list[str]:
    """POST each event (/v1/events answers its id)."""
    ids = []
    for event in events:
        answer = httpx.post(f"{server.url}/v1/events", json=event, headers=key_headers(project))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def test_every_notify_event_arrives_signed_through_failures_throttling_and_a_dead_receiver(
    notify_server, tmp_path
):
    server, [project] = notify_server, notify_server.projects
    receiver = Receiver(tmp_path, SECRET, "--fail-first", "1", "--throttle-every", "5").start()
    add_destination(server, project, kind="webhook", url=receiver.url, secret=SECRET)
    wait_for(lambda: False, 1.0)  # the storage side re-reads destinations every 0.3 s
    sent = send(server, project, notify_events(10, "first"))
    post_batch(server, project, [{"type": "track", "event": "quiet", "visitor_id": "q"}])
    assert wait_for(lambda: {r["key"] for r in receiver.delivered()} >= set(sent), 30), (
        receiver.requests()
    )
    receiver.kill()  # a dead destination: deliveries wait and retry
    more = send(server, project, notify_events(10, "second"))
    wait_for(lambda: False, 2.0)
    receiver.start()
    everything = set(sent) | set(more)
    assert wait_for(lambda: {r["key"] for r in receiver.delivered()} >= everything, 40)
    delivered = receiver.delivered()
    assert {r["key"] for r in delivered} == everything  # the non-notify event never came
    assert all(r["signed"] for r in receiver.requests())
    for r in delivered:  # one event id per key, whatever the retries
        assert r["body"]["id"] == r["key"] == r["body"]["event"]["event_id"]
    assert any(r["status"] == 429 for r in receiver.requests())
    assert any(r["status"] == 500 for r in receiver.requests())
    attempts = wait_for(
        lambda: [
            d for d in httpx.get(
                f"{server.url}/v1/notifications/deliveries", params={"limit": 1000},
                headers=read_headers(project),
            ).json()["deliveries"] if d["status"] == "sent"
        ] if True else None,
        10,
    )  # fmt: skip
    assert {a["event_id"] for a in attempts} >= everything
    failed = httpx.get(
        f"{server.url}/v1/notifications/deliveries",
        params={"status": "failed", "limit": 1000},
        headers=read_headers(project),
    ).json()["deliveries"]
    assert any(a["response_code"] == 429 for a in failed)
    assert any(a["response_code"] == 500 for a in failed)
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "trackhouse_notifications_sent_total" in metrics
    receiver.kill()
