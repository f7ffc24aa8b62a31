"""Whatever JSON the dialect routes receive, the server answers without a 5xx (hypothesis)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow
# Field names the dialects know, so generated bodies hit the interesting paths.
FIELD_NAMES = [
    # Kitbase
    "event", "properties", "channel", "tags", "user_id", "icon", "notify", "description",
    "anonymous_id", "timestamp", "amount", "currency", "orderId", "productId", "$duration",
    # privacy dashboard
    "trackingCode", "eventType", "url", "referrer", "sessionId", "visitorId", "deviceType",
    "browser", "os", "location", "name", "domain", "projectId",
    # AscendKit
    "eventName", "userId", "context", "userAgent", "locale", "screen", "signup", "traits",
]  # fmt: skip

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=20,
)
EVENT = st.dictionaries(KEYS, JSON, max_size=10)
BODIES = (
    EVENT
    | st.fixed_dictionaries({"events": st.lists(EVENT, max_size=3)})
    | (st.fixed_dictionaries({"batch": st.lists(EVENT, max_size=3)}))
    | JSON
)
ROUTES = (
    "/sdk/v1/logs",
    "/sdk/v1/logs/batch",
    "/api/v1/events",
    "/api/v1/events/batch",
    "/api/v1/websites",
    "/v1/analytics/collect",
    "/v1/analytics/identify",
    "/v1/analytics/signout",
)


def fuzz(client: httpx.Client, route: str, headers: dict, failures: list[str]) -> None:
    @given(body=BODIES)
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def call(body) -> None:
        response = client.post(route, json=body, headers=headers)
        if response.status_code >= 500:
            failures.append(f"{route} {body!r:.300}: {response.status_code}")

    call()


def test_no_body_makes_a_dialect_route_fail(embedded):
    project = embedded.projects[0]
    headers = {
        "X-API-Key": project["secret_key"],
        "X-AscendKit-Public-Key": project["write_key"],
    }
    failures: list[str] = []
    with httpx.Client(base_url=embedded.url, timeout=30) as client:
        for route in ROUTES:
            fuzz(client, route, headers, failures)
        server = {"X-AscendKit-Secret-Key": project["secret_key"]}
        fuzz(client, "/api/v1/events", server, failures)  # AscendKit's server SDK
    assert not failures, failures
