"""The ``funnel_steps`` table (schemas/clickhouse/021) on a real chDB engine: funnels without
property filters read it, and answer as the same funnel over the events table, with persons
resolved through identities (a link made after the events stitches them), a re-delivered
event's copy, bots, a user erasure and both retention purges (which must delete from the copy
too); a data dir from before the table gets it filled from events on migrate, and so does one
whose migrate stopped before filling it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[3]

# chDB allows one engine per process: run it in a child, not inside pytest's process.
SCRIPT = """
import sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import orjson
from datetime import UTC, datetime, timedelta
from pipeline.privacy import erase, retention as purges
from pipeline.query import funnels
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from schemas.records import IdentityLink
from tests.factories import enriched

DAY, MINUTE = 86_400_000, 60_000
today = datetime.now(UTC).date()
T0 = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000) - 40 * DAY
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "proj")
ch.migrate()
def at(day, minute):
    return T0 + day * DAY + 10 * 3_600_000 + minute * MINUTE
def page(visitor, path, day, minute, user="", **more):
    return enriched(visitor_id=visitor, user_id=user, type="page", event="pageview", path=path,
                    timestamp=at(day, minute), **more)
def track(visitor, event, day, minute, user=""):
    return enriched(visitor_id=visitor, user_id=user, event=event, timestamp=at(day, minute))
older = [page("v2", "/", 1, 0), page("v2", "/pricing-plans", 1, 5), page("v5", "/", 2, 0, "u5")]
ch.insert(rows.event_block(older))
# a data dir from before 021: the table comes with migrate, filled from the events
ch.command("DROP TABLE proj.funnel_steps_mv")
ch.command("DROP TABLE proj.funnel_steps")
ch.migrate()
out = {"backfilled": ch.query("SELECT count() FROM proj.funnel_steps")[1][0][0]}
ch.migrate()  # filled already: nothing is added
out["migrated_again"] = ch.query("SELECT count() FROM proj.funnel_steps")[1][0][0]
# a migrate that created the table and stopped before filling it
ch.command("TRUNCATE TABLE proj.funnel_steps")
ch.migrate()
out["refilled"] = ch.query("SELECT count() FROM proj.funnel_steps")[1][0][0]
ch.insert(rows.event_block([
    page("v1", "/", 20, 0), page("v1", "/pricing", 20, 5), track("v1", "signup", 20, 10, "u1"),
    page("v3", "/", 20, 0), track("v3", "signup", 20, 120), page("bot", "/", 20, 0, is_bot=True),
    older[0],  # a re-delivered copy
]))
first, last = (datetime.fromtimestamp(T0 / 1000, UTC).date() + timedelta(d) for d in (0, 39))
span = [first.isoformat(), last.isoformat()]
BODY = {"steps": [{"page": "/"}, {"page": "/pricing*"}, {"event": "signup"}], "window": "1h",
        "date_range": span}
BODIES = [BODY, {**BODY, "counting": "visitors"}, {**BODY, "include_bots": True},
          {**BODY, "breakdown": "path"},
          {"steps": [{"page": "/**"}, {"event": "signup"}], "window": "1d", "date_range": span}]
def run(body, copied=True):
    saved = funnels.STEP_COLUMNS
    if not copied:
        funnels.STEP_COLUMNS = frozenset()
    try:
        f = funnels.parse("prj_test", body, "proj")
    finally:
        funnels.STEP_COLUMNS = saved
    assert ("funnel_steps" in f.sql) == copied, f.sql
    return [list(row) for row in ch.query(f.sql, f.parameters)[1]]
def stage(name):
    out[name] = run(BODY)[0]
    out[name + "_same"] = all(run(b) == run(b, copied=False) for b in BODIES)
filtered = {"steps": [{"page": "/"}, {"event": "signup", "filters": {"plan": "pro"}}]}
out["filtered_reads_events"] = "funnel_steps" not in funnels.parse("prj_test", filtered, "proj").sql
stage("unlinked")
ch.insert(rows.identity_block([IdentityLink("prj_test", "v1", "u1", at(20, 10))]))
stage("linked")
erase.erase_user(ch, "prj_test", "u1")
stage("erased")
out["erased_left"] = ch.query(
    "SELECT count() FROM proj.funnel_steps WHERE vh = cityHash64('v1') OR uh = cityHash64('u1')"
)[1][0][0]
purges.purge_anonymous(ch, 35, "prj_test")
stage("anonymous_purged")
purges.purge_older(ch, 35, "prj_test")
stage("purged")
out["copy_rows"] = ch.query("SELECT count() FROM proj.funnel_steps")[1][0][0]
out["events_rows"] = ch.query("SELECT count() FROM proj.events")[1][0][0]
print(orjson.dumps(out).decode())
"""


def test_funnels_from_the_copy_answer_as_from_events_through_links_erasure_and_purges():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, timeout=240
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    got = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert got["backfilled"] == got["migrated_again"] == got["refilled"] == 3
    assert got["filtered_reads_events"]
    # step 1 (/), 2 (/pricing*), 3 (signup) within 1 h. Unlinked: v1, v2, v3, u5 reach 1;
    # v1 and v2 reach 2; the signup is u1's, not v1's, and v3 signed up 2 h after
    assert got["unlinked"] == [4, 2, 0]
    assert got["linked"] == [4, 2, 1]  # v1 is u1: one person, who reaches step 3
    assert got["erased"] == [3, 1, 0]  # u1 (and its visitor v1) erased
    assert got["erased_left"] == 0
    assert got["anonymous_purged"] == [2, 0, 0]  # v2 (day 1, never identified) purged
    assert got["purged"] == [1, 0, 0]  # u5's day 2 purged: v3 is left
    for name in ("unlinked", "linked", "erased", "anonymous_purged", "purged"):
        assert got[name + "_same"], name
    # v3's two events and the bot's page view, in both
    assert got["copy_rows"] == got["events_rows"] == 3
