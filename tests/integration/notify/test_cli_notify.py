"""``trackhouse notify ...`` on a stopped server's data dir."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.server import cli


def test_destinations_and_rules_are_added_listed_and_removed(tmp_path):
    data_dir = tmp_path / "data"
    project = cli(data_dir, "projects", "create", "alpha")["project_id"]
    hook = cli(data_dir, "notify", "destinations", "add", project, "--kind", "webhook",
               "--url", "http://127.0.0.1:9/hook")  # fmt: skip
    assert hook["secret"].startswith("whsec_") and hook["all_notify"] is True
    rule = cli(data_dir, "notify", "rules", "add", project, "--event", "purchase*",
               "--filter", "revenue_amount > 100",
               "--destination", hook["destination_id"])  # fmt: skip
    assert rule["kind"] == "match" and rule["filter"] == "revenue_amount > 100"
    listed = cli(data_dir, "notify", "destinations", "list", project)["destinations"]
    assert [d["destination_id"] for d in listed] == [hook["destination_id"]]
    assert listed[0]["secret"] != hook["secret"]  # listings never show the secret
    assert [r["rule_id"] for r in cli(data_dir, "notify", "rules", "list")["rules"]] == [
        rule["rule_id"]
    ]
    cli(data_dir, "notify", "rules", "remove", project, rule["rule_id"])
    cli(data_dir, "notify", "destinations", "remove", project, hook["destination_id"])
    assert cli(data_dir, "notify", "rules", "list", project)["rules"] == []
    assert cli(data_dir, "notify", "destinations", "list", project)["destinations"] == []
    assert cli(data_dir, "notify", "dead", project) == {"dead": []}
    assert cli(data_dir, "notify", "replay", project) == {"replayed": []}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("destinations", "add", "p", "--kind", "webhook", "--url", "ftp://x"), "url: an http(s)"),
        (("destinations", "add", "p", "--kind", "email", "--email-to", "nope"), "email_to:"),
        (("rules", "add", "p", "--filter", "revenue >>> 1"), "filter:"),
        (("rules", "add", "p", "--kind", "threshold"), "threshold:"),
    ],
)
def test_a_wrong_field_is_a_clear_error(tmp_path, args, reason):
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "notify", *args, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and reason in out.stderr, out.stderr
