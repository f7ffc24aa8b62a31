"""``trackhouse goals`` and ``trackhouse projects timezone``, then the stats API of a server on
that data directory: its goals, and days and hours in the project's time zone."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.integration.helpers import post_batch, read_headers
from tests.integration.server import Server, cli, wait_for

pytestmark = pytest.mark.slow


def test_goals_and_time_zone_from_the_command_line(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "zoned")
    pid = project["project_id"]
    added = cli(data_dir, "goals", "add", "--project", pid, "--page", "/docs/**")
    assert added["display_name"] == "Visit /docs/**" and added["goal_type"] == "page"
    cli(data_dir, "goals", "add", "--project", pid, "--event", "Signup", "--currency", "USD")
    assert [
        g["display_name"] for g in cli(data_dir, "goals", "list", "--project", pid)["goals"]
    ] == [
        "Visit /docs/**",
        "Signup",
    ]
    cli(data_dir, "goals", "delete", "Signup", "--project", pid)
    assert len(cli(data_dir, "goals", "list", "--project", pid)["goals"]) == 1
    refused = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "goals", "add", "--project", pid,
         "--page", "docs", "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "page_path starts with /" in refused.stderr
    assert (
        cli(data_dir, "projects", "timezone", pid, "Europe/Berlin")["timezone"] == "Europe/Berlin"
    )

    server = Server(data_dir).start()
    try:
        events = [  # 23:30 UTC on 1 January is 00:30 on 2 January in Berlin
            {"type": "page", "visitor_id": "a", "timestamp": "2024-01-01T23:30:00Z",
             "context": {"page": {"url": "https://x.test/docs/a/b"}}},
            {"type": "page", "visitor_id": "b", "timestamp": "2024-01-01T22:30:00Z",
             "context": {"page": {"url": "https://x.test/"}}},
        ]  # fmt: skip
        assert post_batch(server, project, events).status_code == 202
        body = {"site_id": pid, "metrics": ["visitors"], "date_range": ["2024-01-01", "2024-01-02"],
                "dimensions": ["time:hour"]}  # fmt: skip

        def ask(body):
            response = httpx.post(f"{server.url}/api/v2/query", json=body,
                                  headers=read_headers(project))  # fmt: skip
            assert response.status_code == 200, response.text
            return response.json()

        answer = wait_for(lambda: len((a := ask(body))["results"]) == 2 and a, 30)
        assert answer["results"] == [
            {"metrics": [1], "dimensions": ["2024-01-01 23:00:00"]},
            {"metrics": [1], "dimensions": ["2024-01-02 00:00:00"]},
        ]
        assert answer["query"]["date_range"] == [
            "2024-01-01T00:00:00+01:00",
            "2024-01-02T23:59:59+01:00",
        ]
        goals = {**body, "dimensions": ["event:goal"], "metrics": ["visitors", "conversion_rate"]}
        assert ask(goals)["results"] == [{"metrics": [1, 50.0], "dimensions": ["Visit /docs/**"]}]
    finally:
        assert server.stop() == 0, server.log()
