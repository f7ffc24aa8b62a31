"""Visit sources and channels: the referrer list as loaded, and the ClickHouse expressions
evaluated by chDB (in a child process: one chDB engine per process) for GA4's channel rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from pipeline.query.stats import sources

ROOT = Path(__file__).resolve().parents[3]
CASES = [  # (referrer_domain, utm_source, utm_medium, utm_campaign) -> (source, channel)
    (("", "", "", ""), ("Direct / None", "Direct")),
    (("google.com", "", "", ""), ("Google", "Organic Search")),
    (("google.co.uk", "", "", ""), ("Google", "Organic Search")),
    (("duckduckgo.com", "", "", ""), ("DuckDuckGo", "Organic Search")),
    (("google.com", "", "cpc", ""), ("Google", "Paid Search")),
    (("t.co", "", "", ""), ("Twitter", "Organic Social")),
    (("m.facebook.com", "", "", ""), ("Facebook", "Organic Social")),
    (("", "fb", "paid_social", ""), ("Facebook", "Paid Social")),
    (("", "ig", "", ""), ("Instagram", "Organic Social")),
    (("youtube.com", "", "", ""), ("YouTube", "Organic Video")),
    (("amazon.com", "", "", ""), ("Amazon", "Organic Shopping")),
    (("", "newsletter", "email", ""), ("newsletter", "Email")),
    (("", "partner", "affiliate", ""), ("partner", "Affiliates")),
    (("", "bannerco", "display", ""), ("bannerco", "Display")),
    (("", "sms", "", ""), ("sms", "SMS")),
    (("", "podcast", "audio", ""), ("podcast", "Audio")),
    (("", "google", "cpc", "cross-network-q1"), ("Google", "Cross-network")),
    (("", "shop", "ppc", "summer-shopping"), ("shop", "Paid Shopping")),
    (("", "x", "paid", ""), ("Twitter", "Paid Social")),
    (("", "whatever", "cpm", ""), ("whatever", "Display")),
    (("", "whatever", "ppc", ""), ("whatever", "Paid Other")),
    (("example.org", "", "", ""), ("example.org", "Referral")),
    (("blog.example.org", "", "", ""), ("blog.example.org", "Referral")),
]
SCRIPT = """
import sys, orjson, tempfile
sys.path.insert(0, sys.argv[1])
from pipeline.sink.clickhouse import ClickHouse
from pipeline.query.stats import dimensions, sources
from pipeline.query.stats.dimensions import Context, Params
ch = ClickHouse("chdb://" + tempfile.mkdtemp(), "trackhouse")
ch.migrate()
sources.ensure_table(ch)
sources.ensure_table(ch)  # the second time finds it filled
ctx = Context("trackhouse", "p", "UTC", [], Params())
source, channel = dimensions.shown("visit:source", ctx), dimensions.raw("visit:channel", ctx)
out = []
for domain, utm, medium, campaign in orjson.loads(sys.argv[2]):
    _, rows = ch.query(
        f"SELECT {source}, {channel} FROM (SELECT *, {dimensions.derived_columns('trackhouse')} "
        "FROM (SELECT {d:String} AS referrer_domain, {u:String} AS utm_source, "
        "{m:String} AS utm_medium, {c:String} AS utm_campaign) AS s) AS s",
        {"d": domain, "u": utm, "m": medium, "c": campaign})
    out.append(list(rows[0]))
print(orjson.dumps(out).decode())
"""


def test_the_list_knows_the_big_sources():
    domains, categories = sources.referrer_list()
    assert len(domains) > 1000  # Snowplow's list, not a handful
    assert domains["google.com"] == "Google" and categories["google"] == "search"
    assert domains["t.co"] == "Twitter" and categories["twitter"] == "social"
    assert domains["threads.net"] == "Threads"  # a recent list (2023 on)
    assert categories["youtube"] == "video"  # GA4 counts YouTube as video
    keys = [row[0] for row in sources.table_rows()]
    assert len(keys) == len(set(keys)) and "name:fb" in keys


def test_sources_and_channels_in_clickhouse():
    inputs = [list(case) for case, _ in CASES]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), orjson.dumps(inputs).decode()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert [tuple(row) for row in got] == [expected for _, expected in CASES]
