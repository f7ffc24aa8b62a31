"""kill -9 of the embedded server between storing notify events and delivering them loses
none: the pending deliveries went into ClickHouse with the events, and the restarted storage
process sends them. kill -9 of the delivery process alone loses none either: the storage
process starts it again, and it resends what is pending."""

from __future__ import annotations

import os
import signal

import httpx

from tests.integration.helpers import (
    NOTIFY_ENV,
    Receiver,
    admin,
    delivery_pid,
    key_headers,
    running,
    wait_rows,
)
from tests.integration.server import Server, cli, wait_for


def test_kill_9_after_the_store_and_before_the_delivery_loses_no_notification(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "alpha")
    receiver = Receiver(tmp_path, "s3cret")  # not started yet: nothing can be delivered
    hook = cli(data_dir, "notify", "destinations", "add", project["project_id"],
               "--kind", "webhook", "--url", receiver.url, "--secret", "s3cret")  # fmt: skip
    server = Server(data_dir, env=NOTIFY_ENV).start()
    ids = []
    for i in range(15):
        event = {"event": f"paid_{i}", "visitor_id": f"v{i}", "notify": True}
        answer = httpx.post(f"{server.url}/v1/events", json=event, headers=key_headers(project))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    wait_rows(server, project, 15)  # stored: the pending deliveries are in the outbox
    dead = admin(server, "GET", f"/projects/{project['project_id']}/notifications/deliveries")
    assert dead.status_code == 200
    sender = delivery_pid(server)
    assert sender is not None
    server.kill()
    assert wait_for(lambda: not running(sender), 10), "the delivery process outlived the server"
    receiver.start()
    server = Server(data_dir, env=NOTIFY_ENV).start()
    try:
        assert wait_for(lambda: {r["key"] for r in receiver.delivered()} >= set(ids), 40), (
            receiver.requests()
        )
        delivered = receiver.delivered()
        assert {r["key"] for r in delivered} == set(ids)
        assert all(r["body"]["delivery_id"] == f"{r['key']}:{hook['destination_id']}"
                   for r in delivered)  # fmt: skip
        assert all(r["signed"] for r in receiver.requests())
    finally:
        receiver.kill()
        assert server.stop() == 0, server.log()


def post_notify(server, project, names) -> list[str]:
    ids = []
    for name in names:
        event = {"event": name, "visitor_id": "v1", "notify": True}
        answer = httpx.post(f"{server.url}/v1/events", json=event, headers=key_headers(project))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def test_kill_9_of_the_delivery_process_alone_loses_no_notification(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "alpha")
    receiver = Receiver(tmp_path, "s3cret").start()
    cli(data_dir, "notify", "destinations", "add", project["project_id"],
        "--kind", "webhook", "--url", receiver.url, "--secret", "s3cret")  # fmt: skip
    server = Server(data_dir, env=NOTIFY_ENV).start()
    try:
        ids = post_notify(server, project, [f"before_{i}" for i in range(5)])
        assert wait_for(lambda: {r["key"] for r in receiver.delivered()} >= set(ids), 40)
        first = delivery_pid(server)
        assert first is not None
        receiver.kill()  # what is stored from now on stays pending until the receiver is back
        ids += post_notify(server, project, [f"pending_{i}" for i in range(5)])
        wait_rows(server, project, 10)
        os.kill(first, signal.SIGKILL)
        ids += post_notify(server, project, [f"after_{i}" for i in range(5)])  # ingest goes on
        receiver.start()
        assert wait_for(lambda: {r["key"] for r in receiver.delivered()} >= set(ids), 60), (
            receiver.requests()
        )
        assert delivery_pid(server) not in (None, first)
        assert "notify.process_died" in server.log()
    finally:
        receiver.kill()
        assert server.stop() == 0, server.log()
