"""Which statements live SQL runs: reads only, no settings changes, no table functions that
reach outside the database — each refusal with ClickHouse's code and name."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.query.sql_guard import Refusal, check

READS = [
    ("SELECT 1", None),
    ("select count() from events final where project_id = {p:String}", None),
    ("WITH d AS (SELECT 1 AS x) SELECT x FROM d", None),
    ("SELECT * FROM numbers(10) FORMAT JSONEachRow", "JSONEachRow"),
    ("SELECT version(), timezone()\n FORMAT Native;", "Native"),
    ("SHOW TABLES", None),
    ("SHOW SETTINGS ILIKE '%max_result%'", None),
    ("DESCRIBE TABLE events", None),
    ("EXISTS TABLE events", None),
    ("EXPLAIN SELECT 1", None),
    ("SELECT name, value, readonly FROM system.settings LIMIT 10000", None),
    ("SELECT 'file(/etc/passwd)', 'INSERT INTO x', 'SETTINGS' AS `file`", None),
    ("(SELECT 1) UNION ALL (SELECT 2)", None),
]

REFUSED = [
    ("INSERT INTO events VALUES (1)", 164),
    ("ALTER TABLE events DELETE WHERE 1", 164),
    ("CREATE TABLE x (a Int8) ENGINE = Memory", 164),
    ("DROP TABLE events", 164),
    ("TRUNCATE TABLE events", 164),
    ("OPTIMIZE TABLE events FINAL", 164),
    ("RENAME TABLE events TO e", 164),
    ("ATTACH TABLE events", 164),
    ("DETACH TABLE events", 164),
    ("GRANT SELECT ON *.* TO bob", 164),
    ("SYSTEM FLUSH LOGS", 164),
    ("KILL QUERY WHERE 1", 164),
    ("SET readonly = 0", 164),
    ("SELECT 1 SETTINGS max_threads = 8", 164),
    ("SELECT 1 INTO OUTFILE '/tmp/x'", 164),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 497),
    ("SELECT * FROM url('http://example.com/x.csv', CSV)", 497),
    ("SELECT * FROM s3('http://bucket/x')", 497),
    ("SELECT * FROM hdfs('hdfs://x')", 497),
    ("SELECT * FROM remote('other:9000', db.t)", 497),
    ("SELECT * FROM remoteSecure('other:9440', db.t)", 497),
    ("SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", 497),
    ("SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')", 497),
    ("SELECT * FROM jdbc('x', 't')", 497),
    ("SELECT * FROM odbc('x', 't')", 497),
    ("SELECT * FROM input('a Int8')", 497),
    ("SELECT * FROM executable('x.sh', TSV, 'a Int8')", 497),
    ("SELECT * FROM azureBlobStorage('x')", 497),
    ("WITH x AS (SELECT * FROM FILE('a')) SELECT * FROM x", 497),
    ("SELECT * FROM events WHERE 1 IN (SELECT 1 FROM url('http://x', CSV))", 497),
    ("SELECT 1; DROP TABLE events", 62),
    ("  ;", 62),
]


@pytest.mark.parametrize(("sql", "fmt"), READS)
def test_reads_run_and_their_format_clause_is_found(sql, fmt):
    assert check(sql) == fmt


@pytest.mark.parametrize(("sql", "code"), REFUSED)
def test_everything_else_is_refused_with_clickhouses_code(sql, code):
    with pytest.raises(Refusal) as refused:
        check(sql)
    assert refused.value.code == code
    text = str(refused.value)
    assert text.startswith(f"Code: {code}. DB::Exception: ")
    assert text.endswith(f"({refused.value.name})")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.from_regex(r"(SELECT|WITH|SHOW|\(|INSERT)[ -~]{0,120}"))
def test_any_text_is_checked_or_refused_never_an_unexpected_error(text):
    try:
        check(text)
    except Refusal as refused:
        assert refused.code in (62, 164, 497)
