"""``trackhouse plan infer`` on a generated data set, ``plan report`` (JSON, and its exit code
for CI), ``plan pull``/``diff``/``schema``, and ``PUT /v1/plan`` refusing a bad plan with the
field named."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.factories import BASE_MS, native_event
from tests.integration.helpers import fetch, post_batch, read_headers
from tests.integration.server import Server, cli, wait_for

pytestmark = pytest.mark.slow


def generated(visitors: int, seed: int = 7) -> tuple[list[dict], dict[str, int]]:
    """Events of three names with typed properties (``price`` an int or a float; ``coupon``
    only sometimes), and identify calls; returns them and the count per event name."""
    rng, events, counts = random.Random(seed), [], {}
    for v in range(visitors):
        visitor = f"vis_gen_{v}"
        for i in range(rng.randint(2, 6)):
            name = rng.choice(["Viewed Product", "Added to Cart", "Completed Order"])
            properties: dict = {"product_id": f"p{rng.randint(1, 50)}"}
            if name != "Viewed Product":
                properties["price"] = rng.choice([rng.randint(1, 99), rng.random() * 100])
                properties["gift"] = rng.random() < 0.5
            if name == "Completed Order" and rng.random() < 0.5:
                properties["coupon"] = "SPRING"
            counts[name] = counts.get(name, 0) + 1
            events.append(native_event(visitor, event=name, properties=properties,
                                       timestamp=BASE_MS + i * 1000))  # fmt: skip
        traits = {"email": f"u{v}@x.test", "age": 30 + v % 20}
        events.append(native_event(visitor, type="identify", user_id=f"u{v}", traits=traits))
    return events, counts


def run(data_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_infer_report_and_the_plan_commands(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "infer")
    pid = project["project_id"]
    events, counts = generated(40)
    server = Server(data_dir, env={"TRACKHOUSE_PLAN_RELOAD_SECONDS": "0.2"}).start()
    try:
        for start in range(0, len(events), 100):
            assert post_batch(server, project, events[start : start + 100]).status_code == 202
        tracked = sum(counts.values())
        assert wait_for(
            lambda: fetch(server, project, type="track", limit=1)["pagination"]["total"] == tracked,
            60,
        )
        bad = httpx.put(
            f"{server.url}/v1/plan",
            json={"events": [{"name": "Viewed Product", "properties": {"x": {"type": "text"}}}]},
            headers=read_headers(project),
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["field"] == "events[0].properties[...].type"
        assert "'text'" in bad.json()["message"]
        regex = httpx.put(
            f"{server.url}/v1/plan",
            content=b"events:\n  - name: Viewed Product\n    properties:\n"
            b"      x: {type: string, pattern: '(['}\n",
            headers=read_headers(project),
        )
        assert regex.status_code == 422 and regex.json()["error"] == "invalid_plan", regex.text
        write_key = httpx.get(f"{server.url}/v1/plan", headers={"X-API-Key": project["write_key"]})
        assert write_key.status_code == 403
        assert httpx.get(f"{server.url}/v1/plan", headers=read_headers(project)).status_code == 404
    finally:
        assert server.stop() == 0, server.log()

    drafted = cli(
        data_dir, "plan", "infer", "--project", pid, "--days", "36500", "--format", "json"
    )
    by_name = {e["name"]: e for e in drafted["events"]}
    assert set(by_name) == set(counts)
    assert by_name["Viewed Product"]["properties"] == {
        "product_id": {"type": "string", "required": True}
    }
    order = by_name["Completed Order"]["properties"]
    assert order["price"] == {"type": "number", "required": True}  # ints and floats were sent
    assert order["gift"] == {"type": "boolean", "required": True}
    assert order["coupon"] == {"type": "string"}  # not always sent
    assert drafted["traits"] == {"age": {"type": "integer"}, "email": {"type": "string"}}

    # The draft, tightened: coupon must be one value, and "Added to Cart" is left out.
    plan = dict(drafted, events=[e for e in drafted["events"] if e["name"] != "Added to Cart"])
    order["coupon"]["enum"] = ["AUTUMN"]
    order["note"] = {"type": "string"}  # planned, never sent
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert cli(data_dir, "plan", "push", str(path), "--project", pid)["version"] == 1
    pulled = cli(data_dir, "plan", "pull", "--project", pid, "--format", "json")
    assert (
        pulled["version"] == 1
        and pulled["events"][0]["properties"] == plan["events"][0]["properties"]
    )
    schema = cli(data_dir, "plan", "schema", "--project", pid)
    assert schema["$schema"].endswith("2020-12/schema")
    changed = run(data_dir, "plan", "diff", str(path), "--project", pid)
    assert changed.returncode == 0 and changed.stdout == b""
    between = time.time()  # seconds after the generated events were received

    server = Server(data_dir, env={"TRACKHOUSE_PLAN_RELOAD_SECONDS": "0.2"}).start()
    try:
        visitor = f"vis_{uuid.uuid4().hex}"
        late = [
            native_event(visitor, event="Completed Order", properties={
                "product_id": "p1", "price": 3, "gift": True, "coupon": "SPRING"}),
            native_event(visitor, event="Opened Chat", timestamp=BASE_MS + 1000),
        ]  # fmt: skip
        wait_for(lambda: False, 1.5)  # the plan is loaded
        assert post_batch(server, project, late).status_code == 202
        assert wait_for(lambda: len(fetch(server, project, visitor_id=visitor)["events"]) == 2, 60)
        assert wait_for(
            lambda: len(fetch(server, project, "/v1/plan/violations")["violations"]) == 2, 60
        )
    finally:
        assert server.stop() == 0, server.log()

    report = run(data_dir, "plan", "report", "--project", pid, "--since", "1d", "--format",
                 "json")  # fmt: skip
    assert report.returncode == 0, report.stderr
    body = json.loads(report.stdout)
    rows = {e["event"]: e for e in body["events"]}
    assert rows["Completed Order"]["volume"] == counts["Completed Order"] + 1
    assert rows["Completed Order"]["violating"] == 1
    assert rows["Completed Order"]["rules"] == ["not_in_enum"]
    assert rows["Completed Order"]["never_sent"] == ["note"]
    assert set(body["unplanned_events"]) == {"Added to Cart", "Opened Chat"}
    assert sorted(body["new_events"]) == sorted([*counts, "Opened Chat"])  # all within 1d
    assert body["volume"] == sum(counts.values()) + 2
    assert body["violation_rate"] == pytest.approx(2 / body["volume"], abs=1e-6)
    strict = run(data_dir, "plan", "report", "--project", pid, "--since", "1d",
                 "--format", "json", "--max-violation-rate", "0.001")  # fmt: skip
    assert strict.returncode == 1 and b"above" in strict.stderr
    lenient = run(data_dir, "plan", "report", "--project", pid, "--since", "1d",
                  "--format", "json", "--max-violation-rate", "0.5")  # fmt: skip
    assert lenient.returncode == 0

    # Since the plan was pushed: only the two late events; "Opened Chat" is the new name.
    since = f"{math.ceil(time.time() - between)}s"
    late_only = json.loads(
        run(
            data_dir, "plan", "report", "--project", pid, "--since", since, "--format", "json"
        ).stdout
    )
    assert late_only["volume"] == 2 and late_only["new_events"] == ["Opened Chat"]
    assert late_only["unplanned_events"] == ["Opened Chat"]
    assert late_only["violation_rate"] == 1.0
    rows = {e["event"]: e for e in late_only["events"]}
    assert rows["Viewed Product"]["volume"] == 0 and rows["Viewed Product"]["never_sent"] == [
        "product_id"
    ]
