"""The ``page_event_visitors`` (per hour, schemas/clickhouse/018) and ``page_event_visitors_daily``
(per UTC day, 019) projections of events on a real chDB engine: the stats API's
visitors-per-page SQL, unfiltered or filtered by event name or page (the dashboard's top pages:
events with a page), is answered from the hourly one for a range of whole hours (a project in
Berlin) and from the daily one for whole UTC days (a project in UTC), with the figures a plain
read gives, a re-delivered event's copy changes nothing, and a user erasure (``ALTER ...
DELETE``) and the retention purge (lightweight ``DELETE``) take their rows out of it; a data dir
from before the projection gets it for its older parts on migrate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[3]

# chDB allows one engine per process: run it in a child, not inside pytest's process.
SCRIPT = """
import sys, tempfile
sys.path.insert(0, sys.argv[1])
import orjson
from datetime import date
from pipeline.query.stats import sql
from pipeline.query.stats.dates import days
from pipeline.query.stats.dimensions import Context, Params
from pipeline.sink import rows
from pipeline.sink.clickhouse import ClickHouse
from tests.factories import enriched
from tests.integration.query.projection_migrate import lacking_before_and_after_migrate

TZ, PROJECTION, DEFINITION = sys.argv[2], sys.argv[3], sys.argv[4]
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "proj")
ch.migrate()
def page(visitor, path, at, **more):
    return enriched(type="page", event="pageview", visitor_id=visitor, path=path, timestamp=at,
                    **more)
older = [page("v1", "/", T0 + HOUR), page("v2", "/", T0 + 2 * HOUR), page("v2", "/a", T0)]
ch.insert(rows.event_block(older))
# a data dir from before 018: the projection goes, comes back with migrate, and older parts
# get it from a background mutation
ch.command(f"ALTER TABLE proj.events DROP PROJECTION {PROJECTION}")
ch.command(f"ALTER TABLE proj.events ADD PROJECTION IF NOT EXISTS {PROJECTION} ({DEFINITION})")
before, after = lacking_before_and_after_migrate(ch, PROJECTION)
repeat = older[0]
custom = enriched(type="track", event="x", visitor_id="v4", path="/", timestamp=T0)
ch.insert(rows.event_block([page("v3", "/", T0 + 3 * HOUR), page("v3", "/a", T0 + 3 * HOUR),
                            custom, page("bot", "/", T0, is_bot=True), repeat]))
ctx = Context("proj", "prj_test", TZ, [], Params(), "2024-01-01")
select = sql.Select(dimensions=("event:page",), columns=("visitors",), filters=())
text = sql.build(select, ctx, days(date(2024, 1, 1), date(2024, 1, 1), TZ))
def answer():
    return sorted(tuple(r) for r in ch.query(text, ctx.params.values)[1])
plain = "SELECT path, uniqExact(visitor_id) FROM proj.events FINAL WHERE NOT is_bot " \\
        "AND type != 'identify' GROUP BY path ORDER BY path"
explained = "\\n".join(r[0] for r in ch.query("EXPLAIN " + text, ctx.params.values)[1])
def filtered(node):  # visitors per page under one filter: the projection's use, the rows
    f_ctx = Context("proj", "prj_test", TZ, [], Params(), "2024-01-01")
    f_select = sql.Select(dimensions=("event:page",), columns=("visitors",), filters=(node,))
    f_text = sql.build(f_select, f_ctx, days(date(2024, 1, 1), date(2024, 1, 1), TZ))
    f_explained = "\\n".join(
        r[0] for r in ch.query("EXPLAIN " + f_text, f_ctx.params.values)[1])
    rows = sorted(tuple(r) for r in ch.query(f_text, f_ctx.params.values)[1])
    return f"ReadFromMergeTree ({PROJECTION})" in f_explained, rows
everyone = sql.Select(dimensions=(), columns=("visitors",), filters=(), events_only=True)
total_ctx = Context("proj", "prj_test", TZ, [], Params(), "2024-01-01")
total_text = sql.build(everyone, total_ctx, days(date(2024, 1, 1), date(2024, 1, 1), TZ))
def total():
    return ch.query(total_text, total_ctx.params.values)[1][0][0]
total_explained = "\\n".join(
    r[0] for r in ch.query("EXPLAIN " + total_text, total_ctx.params.values)[1])
out = {"lacking_before": before, "lacking_after": after,
       "uses_projection": f"ReadFromMergeTree ({PROJECTION})" in explained,
       "fresh": answer(), "plain": sorted(tuple(r) for r in ch.query(plain)[1]),
       "total_from": [name for name in ("visitors_daily", "page_event_visitors_daily",
                                                  "page_event_visitors")
                      if f"ReadFromMergeTree ({name})" in total_explained][:1],
       "total": total()}
out["views_use_projection"], out["views"] = filtered(["is", "event:name", ["pageview"]])
out["paged_use_projection"], out["paged"] = filtered(["is_not", "event:page", [""]])
ch.command("ALTER TABLE proj.events DELETE WHERE visitor_id = 'v2' SETTINGS mutations_sync = 2")
out["erased"] = answer()
out["total_erased"] = total()
cutoff = f"fromUnixTimestamp64Milli({T0 + HOUR}, 'UTC')"
ch.command("DELETE FROM proj.events WHERE timestamp < " + cutoff)
out["purged"] = answer()
out["total_purged"] = total()
print(orjson.dumps(out).decode())
"""


HOURLY = (
    "SELECT project_id, toStartOfHour(timestamp), path, type, event, is_bot, uniq(visitor_id) "
    "GROUP BY project_id, toStartOfHour(timestamp), path, type, event, is_bot"
)
DAILY = (
    "SELECT project_id, toStartOfDay(timestamp), path, type, event, is_bot, "
    "uniqCombined(15)(visitor_id) "
    "GROUP BY project_id, toStartOfDay(timestamp), path, type, event, is_bot"
)


@pytest.mark.parametrize(
    ("tz", "projection", "definition", "total_from"),
    [
        ("Europe/Berlin", "page_event_visitors", HOURLY, "page_event_visitors"),
        ("UTC", "page_event_visitors_daily", DAILY, "visitors_daily"),
    ],
)
def test_the_projection_answers_visitors_per_page_and_forgets_what_is_deleted(
    tz, projection, definition, total_from
):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), tz, projection, definition],
        capture_output=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    got = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert got["lacking_before"] > 0 and got["lacking_after"] == 0
    assert got["uses_projection"]
    # v1, v2, v3 and v4 (a custom event on /) on "/"; v2, v3 on "/a"; the bot and the
    # re-delivered copy of v1's page view change nothing
    assert got["fresh"] == [["/", 4], ["/a", 2]] == got["plain"]
    # page views only: v4's custom event on "/" is left out
    assert got["views_use_projection"]
    assert got["views"] == [["/", 3], ["/a", 2]]
    # events with a page (the dashboard's top pages): every event here has one
    assert got["paged_use_projection"]
    assert got["paged"] == got["fresh"]
    assert got["erased"] == [["/", 3], ["/a", 1]]
    # the purge drops what happened before 01:00: v4's event and v2's "/a" (already erased)
    assert got["purged"] == [["/", 2], ["/a", 1]]
    # visitors in total (a goal's divisor): v1-v4, then v1, v3, v4, then v1, v3
    assert got["total_from"] == [total_from]
    assert (got["total"], got["total_erased"], got["total_purged"]) == (4, 3, 2)
