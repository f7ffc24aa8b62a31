"""POST /api/v2/query against a running embedded server (real chDB): every metric checked
against a computation in plain Python over the same events (read back through /v1/events, so
both sides see the same enrichment and sessions), random dimension and filter combinations
(hypothesis), hand-checked examples of Plausible's documentation and test suite, and errors."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.helpers import CHROME_WINDOWS, GOOGLEBOT, IPHONE, post_batch, read_headers
from tests.integration.server import wait_for

pytestmark = pytest.mark.slow
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
PATHS = ["/", "/blog", "/blog/first", "/Pricing", "/docs/api"]
REFERRERS = {  # referrer -> (source, channel), checked by hand against the list and GA4's rules
    "": ("Direct / None", "Direct"),
    "https://www.google.com/search?q=x": ("Google", "Organic Search"),
    "https://t.co/abc": ("Twitter", "Organic Social"),
    "https://example.org/links": ("example.org", "Referral"),
}
DAY0 = date.today() - timedelta(days=6)  # the generated events span DAY0 .. DAY0 + 3
RANGE = [DAY0.isoformat(), (DAY0 + timedelta(days=2)).isoformat()]


def half_up(value: float, digits: int = 0) -> float:
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))


def generate(seed: int) -> tuple[list[dict[str, Any]], int]:
    """Events of ~15 visitors, 1-3 visits each (an hour apart: separate sessions), and how many
    sessions that makes."""
    rng = random.Random(seed)
    events, sessions = [], 0
    for v in range(15):
        agent = rng.choice([CHROME_WINDOWS, IPHONE, FIREFOX, GOOGLEBOT if v == 0 else SAFARI])
        start = datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=UTC) + timedelta(
            minutes=rng.randrange(0, 3 * 24 * 60)
        )
        for _visit in range(rng.randint(1, 3)):
            sessions += 1
            referrer = rng.choice(list(REFERRERS))
            utm = "?utm_source=fb&utm_medium=social" if rng.random() < 0.15 else ""
            moment = start
            for i in range(rng.randint(1, 5)):
                context = {"user_agent": agent}
                path = rng.choice(PATHS)
                page = {"url": f"https://site.test{path}" + (utm if i == 0 else "")}
                if i == 0 and referrer:
                    page["referrer"] = referrer
                context["page"] = page
                event: dict[str, Any] = {
                    "visitor_id": f"visitor-{seed}-{v}",
                    "context": context,
                    "timestamp": int(moment.timestamp() * 1000),
                }
                if i > 0 and rng.random() < 0.3:
                    name = rng.choice(["Signup", "Download"])
                    event |= {
                        "type": "track",
                        "event": name,
                        "properties": {"method": rng.choice(["HTTP", "Magnet"])},
                    }
                else:
                    event["type"] = "page"
                events.append(event)
                moment += timedelta(seconds=rng.randrange(5, 600))
            start = moment + timedelta(hours=2)
    return events, sessions


@pytest.fixture(scope="module")
def dataset(embedded):
    """The events as stored (read back), once they and their sessions are all in."""
    project = embedded.projects[0]
    events, sessions = generate(7)
    for i in range(0, len(events), 100):
        assert post_batch(embedded, project, events[i : i + 100]).status_code == 202
    headers = read_headers(project)

    def stored():
        rows = httpx.get(f"{embedded.url}/v1/events", params={"limit": 1000}, headers=headers)
        found = httpx.get(f"{embedded.url}/v1/sessions", params={"limit": 1000}, headers=headers)
        rows, found = rows.json()["events"], found.json()["sessions"]
        complete = len(rows) == len(events) and len(found) == sessions
        return complete and sum(s["events"] for s in found) == len(events) and rows

    rows = wait_for(stored, 60)
    assert rows, "the events did not all arrive"
    for goal in ({"event_name": "Signup"}, {"page_path": "/blog**", "display_name": "Blog"}):
        response = httpx.post(f"{embedded.url}/api/v1/goals", json=goal, headers=headers)
        assert response.status_code == 201, response.text
    return Dataset(embedded, project, rows)


class Dataset(tuple):
    """(server, project, stored rows), shown short in hypothesis' reports."""

    def __new__(cls, *parts: Any) -> Dataset:
        return super().__new__(cls, parts)

    def __repr__(self) -> str:
        return f"<{len(self[2])} events>"


def query(server, project, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    body = {"site_id": project["project_id"], **body}
    response = httpx.post(
        f"{server.url}/api/v2/query", json=body, headers=read_headers(project), timeout=30
    )
    assert response.status_code == status, response.text
    return response.json()


# --- the reference: plain Python over the stored events ------------------------------------------


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def sessions_of(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each session's first-touch attributes and totals, from all its events."""
    out: dict[str, dict[str, Any]] = {}
    for session_id, events in _group(rows, "session_id").items():
        events.sort(key=lambda e: _ms(e["timestamp"]))
        first, times = events[0], [_ms(e["timestamp"]) for e in events]
        source, channel = REFERRERS[_referrer_of(first)]
        if first["utm_source"] == "fb":
            source, channel = "Facebook", "Organic Social"
        out[session_id] = {
            "entry": next((e["path"] for e in events if e["path"]), ""),
            "exit": [e["path"] for e in events if e["path"]][-1],
            "source": source,
            "channel": channel,
            "bounce": len(events) == 1,
            "duration": (max(times) - min(times)) / 1000,
            "pageviews": sum(e["type"] == "page" for e in events),
            "events": len(events),
            "start": min(times),
            "first": first,
        }
    return out


def _referrer_of(event: dict[str, Any]) -> str:
    return next(
        (
            r
            for r in REFERRERS
            if r and r.split("/")[2].removeprefix("www.") == event["referrer_domain"]
        ),
        "",
    )


def _group(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return groups


GOALS = {
    "Signup": lambda e: e["type"] == "track" and e["event"] == "Signup",
    "Blog": lambda e: e["type"] == "page" and e["path"].startswith("/blog"),
}


def value_of(dimension: str, event: dict[str, Any], session: dict[str, Any]) -> Any:
    simple = {
        "event:page": event["path"],
        "event:name": event["event"],
        "visit:browser": event["browser"],
        "visit:os": event["os"],
        "visit:entry_page": session["entry"],
        "visit:exit_page": session["exit"],
        "visit:source": session["source"],
        "visit:channel": session["channel"],
        "visit:device": event["device_type"].capitalize(),
    }
    if dimension in simple:
        return simple[dimension] or "(not set)"
    if dimension == "event:props:method":
        return (event["properties"] or {}).get("method", "(none)")
    if dimension == "time:day":
        return event["timestamp"][:10]
    raise KeyError(dimension)


def matches(node: list[Any], event: dict[str, Any], session: dict[str, Any]) -> bool:
    if node[0] == "not":
        return not matches(node[1], event, session)
    op, dimension, clauses = node[0], node[1], node[2]
    if dimension == "event:goal":
        return any(GOALS[c](event) for c in clauses)
    value = value_of(dimension, event, session)
    value = "" if value in ("(not set)", "(none)") else value
    if dimension.startswith("event:props:") and op in ("is", "is_not"):
        clauses = ["" if c == "(none)" else c for c in clauses]
    folded = len(node) == 4 and not node[3]["case_sensitive"]
    if folded:
        value, clauses = value.lower(), [c.lower() for c in clauses]
    kind = op.removesuffix("_not")
    hit = {
        "is": lambda: value in clauses,
        "contains": lambda: any(c in value for c in clauses),
        "matches": lambda: any(re.search(c, value) for c in clauses),
    }[kind]()
    return hit if not op.endswith("_not") else not hit


# ("events" is not one: the sessions table counts identify calls too; this data has none)
VISIT_FIGURES = {"visitors", "visits", "pageviews", "bounce_rate", "visit_duration",
                 "views_per_visit", "percentage"}  # fmt: skip


def _names(filters: list[Any]) -> set[str]:
    out: set[str] = set()
    for node in filters:
        out |= _names([node[1]]) if node[0] == "not" else {node[1]}
    return out


def from_sessions(metrics, dimensions, filters) -> bool:
    """Plausible's rule, as the API documents it: without event dimensions, filters or
    metrics, figures are those of the visits that started in the range (the sessions table)."""
    names = set(dimensions) | _names(filters)
    return set(metrics) <= VISIT_FIGURES and all(n.startswith(("visit:", "time")) for n in names)


def expected_from_sessions(rows, metrics, dimensions, filters, start, end) -> list[list[Any]]:
    humans = [e for e in rows if not e["is_bot"]]
    visits = [s for s in sessions_of(humans).values() if start <= s["start"] < end]
    kept = [s for s in visits if all(matches(f, s["first"], s) for f in filters)]

    def day(s):
        return datetime.fromtimestamp(s["start"] / 1000, UTC).date().isoformat()

    def figures(group, total):
        visitors = len({s["first"]["visitor_id"] for s in group})
        values = {
            "visitors": visitors,
            "visits": len(group),
            "pageviews": sum(s["pageviews"] for s in group),
            "bounce_rate": int(half_up(100 * sum(s["bounce"] for s in group) / len(group))),
            "visit_duration": int(half_up(sum(s["duration"] for s in group) / len(group))),
            "views_per_visit": half_up(sum(s["pageviews"] for s in group) / len(group), 2),
            "percentage": half_up(100 * visitors / total, 1) if total else 0,
        }
        return [values[m] for m in metrics]

    total = len({s["first"]["visitor_id"] for s in kept})
    if not dimensions:
        if not kept:
            return [[0 if m not in ("views_per_visit", "percentage") else 0.0 for m in metrics]]
        return [figures(kept, total)]
    groups: dict[tuple, list] = defaultdict(list)
    for s in kept:
        key = tuple(day(s) if d == "time:day" else value_of(d, s["first"], s) for d in dimensions)
        groups[key].append(s)
    return sorted([*key, *figures(group, total)] for key, group in groups.items())


def expected(rows, metrics, dimensions, filters, first: date, last: date) -> list[list[Any]]:
    sessions = sessions_of(rows)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000
    end = (datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)).timestamp()
    if from_sessions(metrics, dimensions, filters):
        return expected_from_sessions(rows, metrics, dimensions, filters, start, end * 1000)
    in_range = [e for e in rows if not e["is_bot"] and start <= _ms(e["timestamp"]) < end * 1000]

    def kept(filters):
        return [
            e for e in in_range if all(matches(f, e, sessions[e["session_id"]]) for f in filters)
        ]

    def figures(events: list[dict[str, Any]], total_visitors: int) -> list[Any]:
        visits = {e["session_id"] for e in events}
        visitors = len({e["visitor_id"] for e in events})
        per = [sessions[s] for s in visits]
        values = {
            "visitors": visitors,
            "visits": len(visits),
            "pageviews": sum(e["type"] == "page" for e in events),
            "events": len(events),
            "bounce_rate": int(half_up(100 * sum(s["bounce"] for s in per) / len(per))),
            "visit_duration": int(half_up(sum(s["duration"] for s in per) / len(per))),
            "views_per_visit": half_up(sum(s["pageviews"] for s in per) / len(per), 2),
            "percentage": half_up(100 * visitors / total_visitors, 1) if total_visitors else 0,
        }
        return [values[m] for m in metrics]

    matching = kept(filters)
    total = len({e["visitor_id"] for e in matching})
    if not dimensions:
        if not matching:
            return [[0 if m not in ("views_per_visit", "percentage") else 0.0 for m in metrics]]
        return [figures(matching, total)]
    groups: dict[tuple, list] = defaultdict(list)
    for e in matching:
        groups[tuple(value_of(d, e, sessions[e["session_id"]]) for d in dimensions)].append(e)
    return sorted([*key, *figures(events, total)] for key, events in groups.items())


# --- the tests ---------------------------------------------------------------------------------

METRICS = ["visitors", "visits", "pageviews", "events"]
SESSION_METRICS = ["bounce_rate", "visit_duration", "views_per_visit"]
EVENT_DIMS = ["event:page", "event:name", "event:props:method"]
VISIT_DIMS = [
    "visit:source",
    "visit:channel",
    "visit:entry_page",
    "visit:exit_page",
    "visit:browser",
    "visit:device",
    "time:day",
]
FILTERS = st.one_of(
    st.tuples(
        st.sampled_from(["is", "is_not"]),
        st.sampled_from(["event:page"]),
        st.lists(st.sampled_from(PATHS), min_size=1, max_size=2),
    ),
    st.tuples(
        st.sampled_from(["contains", "contains_not"]),
        st.sampled_from(["event:page", "visit:entry_page"]),
        st.lists(st.sampled_from(["blog", "Pricing", "pricing", "/d"]), min_size=1, max_size=2),
        st.sampled_from([None, True, False]),
    ),
    st.tuples(
        st.sampled_from(["matches", "matches_not"]),
        st.sampled_from(["event:page"]),
        st.sampled_from([["^/blog/.+$"], ["^/$", "api$"]]),
    ),
    st.tuples(
        st.sampled_from(["is", "is_not"]),
        st.sampled_from(["visit:source"]),
        st.lists(
            st.sampled_from(["Google", "Twitter", "Direct / None", "Facebook"]),
            min_size=1,
            max_size=2,
        ),
    ),
    st.tuples(st.just("is"), st.just("event:goal"), st.sampled_from([["Signup"], ["Blog"]])),
    st.tuples(
        st.sampled_from(["is", "is_not"]),
        st.just("event:props:method"),
        st.sampled_from([["HTTP"], ["(none)"], ["Magnet", "(none)"]]),
    ),
    st.tuples(
        st.just("is"),
        st.just("visit:channel"),
        st.sampled_from([["Organic Search"], ["Direct", "Referral"]]),
    ),
)


def _filter(spec: tuple) -> list[Any]:
    op, dimension, clauses, *modifier = spec
    out = [op, dimension, list(clauses)]
    if modifier and modifier[0] is not None:
        out.append({"case_sensitive": modifier[0]})
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    event_metrics=st.lists(st.sampled_from(METRICS), min_size=1, max_size=4, unique=True),
    session_metrics=st.lists(st.sampled_from(SESSION_METRICS), max_size=3, unique=True),
    dims=st.lists(st.sampled_from(EVENT_DIMS + VISIT_DIMS), max_size=2, unique=True),
    filters=st.lists(FILTERS, max_size=2),
    negate=st.booleans(),
    percentage=st.booleans(),
)
def test_metrics_match_a_plain_python_computation(
    dataset, event_metrics, session_metrics, dims, filters, negate, percentage
):
    server, project, rows = dataset
    if any(d.startswith("event:") for d in dims):
        session_metrics = []  # Plausible refuses session metrics with event dimensions
    if sum(d.startswith("time") for d in dims) > 1:
        dims = dims[:1]
    metrics = event_metrics + session_metrics + (["percentage"] if percentage and dims else [])
    filters = [_filter(f) for f in filters]
    if negate and filters:
        filters[0] = ["not", filters[0]]
    body = {"metrics": metrics, "date_range": RANGE, "dimensions": dims, "filters": filters}
    answer = query(server, project, body)
    got = sorted([*r["dimensions"], *r["metrics"]] for r in answer["results"])
    first, last = (date.fromisoformat(d) for d in RANGE)
    assert got == expected(rows, metrics, dims, filters, first, last), body


def test_session_metrics_with_event_dimensions_are_refused(dataset):
    server, project, _ = dataset
    body = {"metrics": ["bounce_rate"], "date_range": "7d", "dimensions": ["event:page"]}
    answer = query(server, project, body, 400)
    assert answer == {
        "error": "Session metric(s) `bounce_rate` cannot be queried along with event dimensions."
    }


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    extra=st.sampled_from([None, "visit:source", "visit:device", "event:page"]),
    filters=st.lists(FILTERS.filter(lambda f: f[1] != "event:goal"), max_size=2),
)
def test_goal_conversions_match_a_plain_python_computation(dataset, extra, filters):
    server, project, rows = dataset
    dims = ["event:goal", *([extra] if extra else [])]
    metrics = ["visitors", "events", "conversion_rate", "group_conversion_rate"]
    filters = [_filter(f) for f in filters]
    body = {"metrics": metrics, "date_range": RANGE, "dimensions": dims, "filters": filters}
    got = sorted([*r["dimensions"], *r["metrics"]] for r in query(server, project, body)["results"])

    sessions = sessions_of(rows)
    first, last = (date.fromisoformat(d) for d in RANGE)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000
    end = (datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)).timestamp()
    matching = [
        e
        for e in rows
        if not e["is_bot"]
        and start <= _ms(e["timestamp"]) < end * 1000
        and all(matches(f, e, sessions[e["session_id"]]) for f in filters)
    ]

    def extra_of(e: dict[str, Any]) -> tuple[Any, ...]:
        return (value_of(extra, e, sessions[e["session_id"]]),) if extra else ()

    total = len({e["visitor_id"] for e in matching})
    by_group: dict[tuple, set] = defaultdict(set)
    by_goal: dict[tuple, list] = defaultdict(list)
    for e in matching:
        by_group[extra_of(e)].add(e["visitor_id"])
        for goal, completes in GOALS.items():
            if completes(e):
                by_goal[(goal, *extra_of(e))].append(e)
    want = []
    for key, events in by_goal.items():
        visitors = len({e["visitor_id"] for e in events})
        group = len(by_group[key[1:]])
        want.append(
            [*key, visitors, len(events), half_up(100 * visitors / total, 2),
             half_up(100 * visitors / group, 2)]
        )  # fmt: skip
    assert got == sorted(want), body


def test_queries_sent_side_by_side_get_the_answers_they_get_one_at_a_time(dataset):
    """A dashboard sends its queries 6 at a time; the storage process runs them side by side,
    each on a chDB connection of its own (TRACKHOUSE_STORAGE_READ_CONNECTIONS): every answer
    must be the one the same query gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    server, project, _ = dataset
    dimensions = ["event:page", "visit:source", "visit:channel", "visit:country", "visit:device",
                  "visit:entry_page", "visit:browser", "event:goal", "time:day"]  # fmt: skip
    bodies = [
        {"metrics": ["visitors", "events"], "date_range": RANGE, "dimensions": [dimension]}
        for dimension in dimensions
    ] + [{"metrics": ["visitors", "visits", "pageviews", "bounce_rate"], "date_range": RANGE}]
    alone = [query(server, project, body) for body in bodies]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):
            together = list(pool.map(lambda body: query(server, project, body), bodies))
            assert together == alone
