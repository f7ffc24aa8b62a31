"""One property test over every ingest route (native and each dialect), with a corpus of naughty
strings (``tests/integration/naughty.py``): whatever the event name, property keys and values,
the server never answers 5xx, and what it accepts reads back exactly (GET /v1/events).
Hostile raw bodies (broken UTF-8, escaped lone surrogates, NaN, 1e400...) and header values
(keys, auth schemes, content types and encodings of any bytes) too: never 5xx.

One server for all of it and a bounded number of examples per route (~40 s on 2 cores)."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.edge.dialects.ascendkit import PAGEVIEW_EVENTS
from pipeline.edge.dialects.posthog import LIFTED
from tests.integration.naughty import NAUGHTY
from tests.integration.server import Server, cli, wait_for

pytestmark = pytest.mark.slow
ADMIN = "admin-token-for-fuzz"
EXAMPLES_PER_ROUTE = 40
RAW_EXAMPLES_PER_ROUTE = 20

NAUGHTY_TEXT = (
    st.sampled_from(NAUGHTY)
    | st.text(max_size=20)
    | st.builds(lambda a, b: a + b, st.sampled_from(NAUGHTY), st.sampled_from(NAUGHTY))
)
VALUES = (
    NAUGHTY_TEXT
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
PROPERTIES = st.dictionaries(NAUGHTY_TEXT, VALUES, max_size=6)
# Event names are mostly text; any other JSON value must be refused with a 4xx.
NAMES = (
    NAUGHTY_TEXT
    | st.integers()
    | st.lists(NAUGHTY_TEXT, max_size=2)
    | st.dictionaries(NAUGHTY_TEXT, NAUGHTY_TEXT, max_size=2)
)
RAW_BODIES = st.sampled_from(
    [
        b"\xff\xfe{}",
        b'{"event": "\xc3\x28"}',  # invalid UTF-8 inside a string
        b'{"event": "\\ud800", "visitor_id": "v"}',  # an escaped lone surrogate
        b'{"event": "e\\u0000", "visitor_id": "v\\u2028"}',
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        b'{"event": NaN}',
        b'{"event": 1e400}',
        b'{"event": "e", "event": "f"}',
        b'{"a": -}',
        b"",
        b"null",
        b"[]",
        b'"\\u2028"',
        b"9" * 5000,
        b"data=\xc3\xa9",  # PostHog's form body: not ASCII, not base64
        b"data=%E9%80",
        b"data=" + b"W" * 5000,
    ]
) | st.binary(max_size=64)


HEADER_BYTES = bytes([9, *range(0x20, 0x7F), *range(0x80, 0x100)])  # what HTTP/1.1 allows
HEADER_VALUES = (
    st.sampled_from(NAUGHTY).map(lambda text: text.encode())
    | st.binary(max_size=40)
    | st.builds(lambda scheme, rest: scheme + rest,
                st.sampled_from([b"Bearer ", b"Basic ", b"bearer  ", b""]), st.binary(max_size=30))
).map(lambda value: bytes(b for b in value if b in HEADER_BYTES).strip())  # fmt: skip
HEADERS = st.dictionaries(
    st.sampled_from(["Authorization", "X-API-Key", "Content-Type", "Content-Encoding",
                     "X-AscendKit-Public-Key", "X-AscendKit-Secret-Key", "X-Forwarded-For"]),
    HEADER_VALUES,
    min_size=1,
)  # fmt: skip
HEADER_EXAMPLES_PER_ROUTE = 15


@dataclass
class Sent:
    """An accepted request: where its event reads back and what it must read back as."""

    route: str
    visitor_id: str
    event: str
    properties: dict[str, Any]
    user_id: str | None = None
    traits: dict[str, Any] | None = None
    warning_id: str | None = None  # Segment answers 200 for what it records as a warning


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz-ingest") / "data"
    project = cli(data_dir, "projects", "create", "fuzz")
    server = Server(data_dir, env={"TRACKHOUSE_ADMIN_TOKEN": ADMIN}).start()
    server.projects = (project,)
    site = {"name": "s", "domain": "s.test", "projectId": project["project_id"]}
    answer = httpx.post(
        f"{server.url}/api/v1/websites", json=site, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 201, answer.text
    server.tracking_code = answer.json()["trackingCode"]
    yield server
    assert server.stop() == 0, server.log()


Request = tuple[str, dict[str, Any], Sent]
Builder = Callable[[Any, str, dict[str, Any], str], Request]


def builders(server) -> dict[str, Builder]:
    """Each ingest route: (event name, properties, unique id) -> the request and what to expect."""
    project = server.projects[0]
    write, secret = project["write_key"], project["secret_key"]
    native = {"X-API-Key": write}
    basic = {"Authorization": "Basic " + base64.b64encode(f"{write}:".encode()).decode()}
    code = server.tracking_code

    def plain(route: str, vid: str, name: str, props: dict, **more: Any) -> Sent:
        return Sent(route, vid, name, props, **more)

    def segment(name, props, vid):
        return {"type": "track", "event": name, "anonymousId": vid, "messageId": vid,
                "properties": props}  # fmt: skip

    def site(props, vid):  # (the event name goes in as a property: eventType is an enum)
        return {"trackingCode": code, "eventType": "custom", "url": "https://s.test/p",
                "sessionId": "s", "visitorId": vid, "properties": props}  # fmt: skip

    def kitbase(name, props, vid):
        return {"event": name, "channel": "fuzz", "anonymous_id": vid, "tags": props}

    def collected(name):
        return "pageview" if isinstance(name, str) and name in PAGEVIEW_EVENTS else name

    return {
        "/v1/events": lambda name, props, vid: (
            "/v1/events",
            {"json": {"event": name, "visitor_id": vid, "properties": props}, "headers": native},
            plain("/v1/events", vid, name, props),
        ),
        "/v1/batch": lambda name, props, vid: (
            "/v1/batch",
            {
                "json": {"events": [{"event": name, "visitor_id": vid, "properties": props}]},
                "headers": native,
            },
            plain("/v1/batch", vid, name, props),
        ),
        "segment /v1/track": lambda name, props, vid: (
            "/v1/track",
            {"json": segment(name, props, vid), "headers": basic},
            plain("segment /v1/track", vid, name, props, warning_id=vid),
        ),
        "segment /v1/batch": lambda name, props, vid: (
            "/v1/batch",
            {"json": {"batch": [segment(name, props, vid)]}, "headers": basic},
            plain("segment /v1/batch", vid, name, props, warning_id=vid),
        ),
        "posthog /capture/": lambda name, props, vid: (
            "/capture/",
            {"json": {"api_key": write, "event": name, "distinct_id": vid, "properties": props}},
            plain(
                "posthog /capture/",
                vid,
                name,
                {k: v for k, v in props.items() if k not in LIFTED},
                user_id=vid,
            ),
        ),
        "posthog /batch/": lambda name, props, vid: (
            "/batch/",
            {
                "json": {
                    "api_key": write,
                    "batch": [{"event": name, "distinct_id": vid, "properties": props}],
                }
            },
            plain(
                "posthog /batch/",
                vid,
                name,
                {k: v for k, v in props.items() if k not in LIFTED},
                user_id=vid,
            ),
        ),
        "/sdk/v1/logs": lambda name, props, vid: (
            "/sdk/v1/logs",
            {"json": kitbase(name, props, vid), "headers": native},
            plain("/sdk/v1/logs", vid, name, props),
        ),
        "/sdk/v1/logs/batch": lambda name, props, vid: (
            "/sdk/v1/logs/batch",
            {"json": {"events": [kitbase(name, props, vid)]}, "headers": native},
            plain("/sdk/v1/logs/batch", vid, name, props),
        ),
        "/v1/analytics/collect": lambda name, props, vid: (
            "/v1/analytics/collect",
            {
                "json": {"eventName": name, "visitorId": f"vis_{vid}", "properties": props},
                "headers": {"X-AscendKit-Public-Key": write},
            },
            plain("/v1/analytics/collect", f"vis_{vid}", collected(name), props),
        ),
        "ascendkit /api/v1/events": lambda name, props, vid: (
            "/api/v1/events",
            {
                "json": {
                    "batch": [
                        {
                            "event": name,
                            "userId": name,
                            "visitorId": f"vis_{vid}",
                            "properties": props,
                        }
                    ]
                },
                "headers": {"X-AscendKit-Secret-Key": secret},
            },
            plain("ascendkit /api/v1/events", f"vis_{vid}", name, props, user_id=name),
        ),
        "/v1/analytics/identify": lambda name, props, vid: (
            "/v1/analytics/identify",
            {
                "json": {"userId": name, "visitorId": f"vis_{vid}", "traits": props},
                "headers": {"X-AscendKit-Secret-Key": secret},
            },
            plain(
                "/v1/analytics/identify", f"vis_{vid}", "user.login", {}, user_id=name, traits=props
            ),
        ),
        "/api/v1/events": lambda name, props, vid: (
            "/api/v1/events",
            {"json": site({**props, str(name): name}, vid)},
            plain("/api/v1/events", vid, "custom", {**props, str(name): name}),
        ),
        "/api/v1/events/batch": lambda name, props, vid: (
            "/api/v1/events/batch",
            {"json": {"events": [site({**props, str(name): name}, vid)]}},
            plain("/api/v1/events/batch", vid, "custom", {**props, str(name): name}),
        ),
    }


def read_all(server) -> dict[str, list[dict[str, Any]]]:
    """Every stored event of the project, by visitor id."""
    headers = {"X-API-Key": server.projects[0]["secret_key"]}
    rows: dict[str, list[dict[str, Any]]] = {}
    for offset in itertools.count(0, 1000):
        page = httpx.get(
            f"{server.url}/v1/events",
            params={"limit": 1000, "offset": offset},
            headers=headers,
            timeout=30,
        ).json()["events"]
        for row in page:
            rows.setdefault(row["visitor_id"], []).append(row)
        if len(page) < 1000:
            return rows


def warned_ids(server) -> set[str]:
    answer = httpx.get(
        f"{server.url}/v1/ingestion_warnings",
        params={"limit": 1000},
        headers={"X-API-Key": server.projects[0]["secret_key"]},
    )
    return {w["details"].get("messageId") for w in answer.json()["warnings"]}


def mismatch(sent: Sent, rows: list[dict[str, Any]]) -> str | None:
    """What differs between the accepted event and the rows read back (None: the same)."""
    if sent.traits is not None:  # AscendKit identify: an identify row, then user.login
        identify = [r for r in rows if r["type"] == "identify"]
        if not identify or identify[0]["traits"] != sent.traits:
            return f"traits {sent.traits!r} read back as {[r['traits'] for r in identify]!r}"
        if identify[0]["user_id"] != sent.user_id:
            return f"user {sent.user_id!r} read back as {identify[0]['user_id']!r}"
    tracked = [r for r in rows if r["event"] == sent.event]
    if not tracked:
        return f"event {sent.event!r} read back as {[r['event'] for r in rows]!r}"
    if tracked[0]["properties"] != sent.properties:
        return f"properties {sent.properties!r} read back as {tracked[0]['properties']!r}"
    return None


def fuzz_route(
    client: httpx.Client, label: str, build: Builder, failures: list[str], accepted: list[Sent]
) -> None:
    """Naughty events, then hostile raw bodies, on one route."""

    @given(name=NAMES, props=PROPERTIES)
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def send(name, props) -> None:
        path, kwargs, sent = build(name, props, f"fz-{uuid.uuid4().hex[:12]}")
        response = client.post(path, **kwargs)
        if response.status_code >= 500:
            failures.append(f"{label} {kwargs.get('json')!r:.300}: {response.status_code}")
        elif response.status_code < 300 and response.status_code != 207:  # 207: refused item
            accepted.append(sent)

    @given(body=RAW_BODIES)
    @settings(max_examples=RAW_EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def send_raw(body) -> None:
        path, kwargs, _ = build("e", {}, "raw")
        response = client.post(path, content=body, headers=kwargs.get("headers", {}))
        if response.status_code >= 500:
            failures.append(f"{label} raw {body!r:.200}: {response.status_code}")

    @given(headers=HEADERS)
    @settings(max_examples=HEADER_EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def send_headers(headers) -> None:
        path, kwargs, _ = build("e", {}, f"fz-{uuid.uuid4().hex[:12]}")
        headers = {**kwargs.get("headers", {}), **headers}
        response = client.post(path, json=kwargs["json"], headers=headers)
        if response.status_code >= 500:
            failures.append(f"{label} headers {headers!r:.300}: {response.status_code}")

    send()
    send_raw()
    send_headers()


def test_every_ingest_route_survives_naughty_input_and_reads_back_exactly(fuzz_server):
    failures: list[str] = []
    accepted: list[Sent] = []
    with httpx.Client(base_url=fuzz_server.url, timeout=30) as client:
        for label, build in builders(fuzz_server).items():
            fuzz_route(client, label, build, failures, accepted)
    assert not failures, failures
    assert len({s.route for s in accepted}) == len(builders(fuzz_server)), "a route took nothing"

    def stored() -> dict[str, list[dict[str, Any]]] | None:
        rows = read_all(fuzz_server)
        missing = [s for s in accepted if s.visitor_id not in rows and not s.warning_id]
        return None if missing else rows

    rows = wait_for(stored, 60) or read_all(fuzz_server)
    warned = warned_ids(fuzz_server)
    for sent in accepted:
        if sent.visitor_id not in rows:
            if sent.warning_id not in warned:
                failures.append(f"{sent.route}: accepted, neither stored nor warned: {sent!r:.300}")
            continue
        problem = mismatch(sent, rows[sent.visitor_id])
        if problem:
            failures.append(f"{sent.route}: {problem}"[:400])
    assert not failures, failures
