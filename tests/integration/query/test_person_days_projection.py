"""The ``person_days`` projection of events (schemas/clickhouse/020) on a real chDB engine: the
retention SQL is answered from it, with the persons resolved through identities (a link made
after the events stitches a visitor's earlier days to the user), a re-delivered event's copy
changes nothing, and a user erasure (``ALTER ... DELETE``) and the retention purge (lightweight
``DELETE``) take their rows out of it; a data dir from before the projection gets it for its
older parts on migrate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[3]

# chDB allows one engine per process: run it in a child, not inside pytest's process.
SCRIPT = """
import sys, tempfile
sys.path.insert(0, sys.argv[1])
import orjson
from datetime import date
from pipeline.query import retention
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from schemas.records import IdentityLink
from tests.factories import enriched
from tests.integration.query.projection_migrate import lacking_before_and_after_migrate

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "proj")
ch.migrate()
def ev(visitor, day, user="", **more):
    return enriched(visitor_id=visitor, user_id=user, timestamp=T0 + day * DAY + 3_600_000,
                    **more)
older = [ev("v1", 0, type="page", event="pageview"), ev("v2", 1)]
ch.insert(rows.event_block(older))
# a data dir from before 020: the projection goes, comes back with migrate, and older parts
# get it from a background mutation
ch.command("ALTER TABLE proj.events DROP PROJECTION person_days")
before, after = lacking_before_and_after_migrate(ch, "person_days")
# v1 signs up as u1 on day 8; u1 comes back from another browser (v4) on day 15
ch.insert(rows.event_block([
    ev("v1", 8, "u1", event="signup"), ev("v4", 15, "u1"), ev("v2", 9), ev("v3", 7),
    ev("bot", 0, is_bot=True), older[0],  # older[0] again: a re-delivered copy
]))
def matrix(**query):
    query = {"period": "week", "cohorts": "3", "end": "2024-01-21", **query}
    r = retention.parse("prj_test", query, "proj", date(2024, 1, 21))
    answer = retention.answer(r, ch.query(r.sql, r.parameters)[1])
    return [[c["size"]] + [x["count"] for x in c["returning"][1:]] for c in answer["cohorts"]]
def explained(**query):
    query = {"period": "week", "cohorts": "3", "end": "2024-01-21", **query}
    r = retention.parse("prj_test", query, "proj", date(2024, 1, 21))
    return "\\n".join(row[0] for row in ch.query("EXPLAIN " + r.sql, r.parameters)[1])
out = {"lacking_before": before, "lacking_after": after,
       "uses_projection": all("ReadFromMergeTree (person_days)" in explained(**q)
                              for q in ({}, {"returning_event": "signup"}, {"first_event": "x"})),
       "unlinked": matrix()}
ch.insert(rows.identity_block([IdentityLink("prj_test", "v1", "u1", T0 + 8 * DAY)]))
out["linked"] = matrix()
out["visitors"] = matrix(counting="visitors")
out["signups"] = matrix(returning_event="signup")
out["with_bots"] = matrix(counting="visitors", include_bots="true")
ch.command("ALTER TABLE proj.events DELETE WHERE visitor_id = 'v2' SETTINGS mutations_sync = 2")
out["erased"] = matrix()
ch.command(f"DELETE FROM proj.events WHERE timestamp < fromUnixTimestamp64Milli({T0 + DAY}, 'UTC')")
out["purged"] = matrix()
print(orjson.dumps(out).decode())
"""


def test_the_projection_answers_retention_with_stitched_persons_and_forgets_deletions():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, timeout=180
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    got = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert got["lacking_before"] > 0 and got["lacking_after"] == 0
    assert got["uses_projection"]
    # per cohort (weeks of Jan 1, 8, 15): its size, then how many came back 1, 2 weeks later.
    # Before the link: v1 (week 0), v2 (weeks 0, 1), u1 (weeks 1, 2), v3 (week 1).
    assert got["unlinked"] == [[2, 1, 0], [2, 1], [0]]
    # after it, v1's anonymous day 0 is u1's: u1 is first seen in week 0 and active in 0, 1, 2
    assert got["linked"] == [[2, 2, 1], [1, 0], [0]]
    # visitors are browsers, links or not: v1, v2 (weeks 0, 1), v3 (week 1), v4 (week 2)
    assert got["visitors"] == [[2, 2, 0], [1, 0], [1]]
    assert got["signups"] == [[2, 1, 0], [1, 0], [0]]  # only u1 signed up (week 1)
    assert got["with_bots"] == [[3, 2, 0], [1, 0], [1]]  # the bot, seen in week 0 only
    assert got["erased"] == [[1, 1, 1], [1, 0], [0]]  # v2 erased
    # the purge drops day 0: u1 is first seen on day 8 (week 1), with v3
    assert got["purged"] == [[0, 0, 0], [2, 1], [0]]
