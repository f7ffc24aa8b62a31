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
    def sent_ids() -> set[str]:
        listed = httpx.get(
            f"{server.url}/v1/notifications/deliveries", params={"limit": 1000},
            headers=read_headers(project),
        ).json()["deliveries"]  # fmt: skip
        return {d["event_id"] for d in listed if d["status"] == "sent"}

    # attempts are logged in batches (every 0.2 s): the last one may still be on its way
    assert wait_for(lambda: sent_ids() >= everything, 10), everything - sent_ids()
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
    remove_destinations(server, project)


def remove_destinations(server, project) -> None:
    """Delete every destination of the project (tests sharing the server stay apart)."""
    base = f"/projects/{project['project_id']}/notifications/destinations"
    for d in admin(server, "GET", base).json()["destinations"]:
        assert admin(server, "DELETE", f"{base}/{d['destination_id']}").status_code == 200


def add_rule(server, project, **document) -> dict:
    answer = admin(
        server, "POST", f"/projects/{project['project_id']}/notifications/rules", json=document
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_4xx_stops_at_once_and_the_dead_letter_is_listed_and_replayed(notify_server, tmp_path):
    server, [project] = notify_server, notify_server.projects
    base = f"/projects/{project['project_id']}/notifications"
    receiver = Receiver(tmp_path, SECRET, "--status", "410").start()
    destination = add_destination(
        server, project, kind="webhook", url=receiver.url, secret=SECRET, all_notify=False
    )
    add_rule(server, project, kind="notify", channel="gone",
             destination_id=destination["destination_id"])  # fmt: skip
    wait_for(lambda: False, 1.0)
    [event_id] = send(server, project, notify_events(1, "refused", channel="gone"))
    dead = wait_for(lambda: admin(server, "GET", base + "/dead").json()["dead"], 30)
    assert [d["event_id"] for d in dead] == [event_id]
    assert len(receiver.requests()) == 1  # a 410 is not tried again
    receiver.kill()
    receiver.options = ()  # the receiver is fixed: it answers 200 now
    receiver.start()
    replayed = admin(server, "POST", base + "/replay", json={}).json()["replayed"]
    assert replayed == [dead[0]["delivery_id"]]
    assert wait_for(lambda: receiver.delivered(), 20)
    assert [r["key"] for r in receiver.delivered()] == [event_id]
    assert wait_for(lambda: not admin(server, "GET", base + "/dead").json()["dead"], 10)

    def attempts() -> list[dict]:  # written in batches (every 0.5 s): wait for the last
        listed = admin(server, "GET", base + "/deliveries", params={"limit": 1000}).json()
        return [
            a for a in listed["deliveries"] if a["destination_id"] == destination["destination_id"]
        ]

    assert wait_for(lambda: len(attempts()) >= 3, 10), attempts()
    mine = attempts()
    assert sorted(a["status"] for a in mine) == ["dead", "failed", "sent"]
    assert {a["response_code"] for a in mine} >= {410, 200}
    receiver.kill()
    remove_destinations(server, project)


def test_slack_and_discord_get_their_payload_shapes_for_events_a_filter_picks(
    notify_server, tmp_path
):
    server, [project] = notify_server, notify_server.projects
    slack, discord = Receiver(tmp_path).start(), Receiver(tmp_path).start()
    for receiver, kind in ((slack, "slack"), (discord, "discord")):
        destination = add_destination(
            server, project, kind=kind, url=receiver.url, all_notify=False
        )
        add_rule(server, project, kind="match", event_pattern="purchase*",
                 filter="revenue_amount > 100",
                 destination_id=destination["destination_id"])  # fmt: skip
    wait_for(lambda: False, 1.0)
    base = {"type": "track", "visitor_id": "buyer", "channel": "shop", "icon": "💰",
            "description": "a big one", "revenue_currency": "EUR"}  # fmt: skip
    send(server, project, [
        {**base, "event": "purchase_small", "revenue_amount": 50},
        {**base, "event": "purchase_big", "revenue_amount": 150},
        {**base, "event": "refund", "revenue_amount": 500},
    ])  # fmt: skip
    assert wait_for(lambda: slack.delivered() and discord.delivered(), 20)
    wait_for(lambda: False, 1.5)  # nothing else comes
    [s], [d] = slack.delivered(), discord.delivered()
    assert s["body"]["text"] == "💰 purchase_big"
    [attachment] = s["body"]["attachments"]
    assert attachment["text"] == "a big one"
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["channel"] == "shop" and fields["revenue_amount"] == "150.0"
    assert d["body"]["content"] == "💰 purchase_big"
    [embed] = d["body"]["embeds"]
    assert embed["title"] == "💰 purchase_big" and embed["description"] == "a big one"
    assert {f["name"]: f["value"] for f in embed["fields"]}["revenue_currency"] == "EUR"
    slack.kill()
    discord.kill()
    remove_destinations(server, project)


def test_a_threshold_rule_fires_once_per_cool_down(notify_server, tmp_path):
    server, [project] = notify_server, notify_server.projects
    receiver = Receiver(tmp_path, SECRET).start()
    destination = add_destination(
        server, project, kind="webhook", url=receiver.url, secret=SECRET, all_notify=False
    )
    rule = add_rule(server, project, kind="threshold", event_pattern="error_*", threshold=3,
                    window_seconds=300, cooldown_seconds=3600,
                    destination_id=destination["destination_id"])  # fmt: skip
    errors = [{"type": "track", "event": f"error_{i}", "visitor_id": "e"} for i in range(3)]
    send(server, project, errors)
    wait_for(lambda: False, 2.0)
    assert receiver.delivered() == []  # 3 is not more than 3
    send(server, project, errors)
    assert wait_for(lambda: receiver.delivered(), 20)
    send(server, project, errors)
    wait_for(lambda: False, 2.0)  # within the cool-down: no second alert
    [alert] = receiver.delivered()
    assert alert["body"]["rule_id"] == rule["rule_id"]
    assert alert["body"]["event"]["alert"] is True
    assert alert["body"]["event"]["count"] >= 4 and alert["body"]["event"]["threshold"] == 3
    receiver.kill()
    remove_destinations(server, project)


def test_the_admin_api_refuses_bad_input_with_the_field_named(notify_server):
    server, [project] = notify_server, notify_server.projects
    base = f"/projects/{project['project_id']}/notifications"
    wrong = httpx.get(f"{server.url}/admin/v1{base}/rules", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    assert admin(server, "GET", "/projects/prj_nope/notifications/rules").status_code == 404
    for path, document, field in [
        ("/destinations", {"kind": "pager"}, "kind"),
        ("/destinations", {"kind": "webhook", "url": "ftp://x"}, "url"),
        ("/destinations", {"kind": "email", "email_to": "nobody"}, "email_to"),
        ("/rules", {"kind": "match", "filter": "amount >> 3"}, "filter"),
        ("/rules", {"kind": "threshold", "threshold": 0}, "threshold"),
        ("/rules", {"kind": "match", "destination_id": "dst_unknown"}, "destination_id"),
    ]:
        answer = admin(server, "POST", base + path, json=document)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
    assert admin(server, "DELETE", base + "/rules/rul_nope").status_code == 404
    bad = admin(server, "GET", base + "/deliveries", params={"status": "odd"})
    assert bad.status_code == 400 and bad.json()["field"] == "status"
    reads = httpx.get(f"{server.url}/v1/notifications/deliveries", headers=key_headers(project))
    assert reads.status_code == 403  # the write key cannot read
