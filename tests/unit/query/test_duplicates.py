"""A re-delivered event that ReplacingMergeTree has not merged away yet (two rows, one
``event_id``) counts once in revenue sums and user profiles. The rows are inserted straight into
the tables (the pipeline itself drops most re-deliveries earlier), and the queries run in a child
process: chDB allows one engine per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from pipeline.sink.clickhouse import ClickHouse
from pipeline.query import revenue, users
ch = ClickHouse("chdb://" + sys.argv[2], "dup")
ch.migrate()
ch.command("SYSTEM STOP MERGES dup.events")
row = ("('00000000-0000-0000-0000-000000000001', 'p', 'track', 'buy', 'v1', 'u1', "
       "'2026-11-02 10:00:00', 9.5, 'USD')")
for _ in range(2):  # two inserts: two parts, two rows until a merge
    ch.command("INSERT INTO dup.events (event_id, project_id, type, event, visitor_id, user_id, "
               "timestamp, revenue_amount, revenue_currency) VALUES " + row)
stored = ch.query("SELECT count() FROM dup.events")[1][0][0]
q = revenue.parse("p", {"date_range": "2026-11-01,2026-11-30"}, "dup")
answer = revenue.answer(q, ch.query(q.sums, q.parameters)[1], ch.query(q.payers, q.parameters)[1],
                        ch.query(q.mrr, q.parameters)[1])

async def run(sql, params):
    columns, rows = ch.query(sql, dict(params))
    return list(columns), rows

profile = asyncio.run(users.profile(run, "dup", "p", "u1", 5))
print(json.dumps({"stored": stored, "revenue": answer["currencies"],
                  "profile": [profile["counts"], profile["revenue"]]}))
"""


def test_a_duplicate_row_counts_once(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), str(tmp_path / "ch")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["stored"] == 2  # the duplicate is really there
    [usd] = found["revenue"]
    assert (usd["total"], usd["events"], usd["paying_users"]) == (9.5, 1, 1)
    assert [e["events"] for e in usd["by_event"]] == [1]
    counts, money = found["profile"]
    assert counts["events"] == 1
    assert money == [{"currency": "USD", "total": 9.5, "events": 1}]
