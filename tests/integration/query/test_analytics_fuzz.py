"""Whatever a caller sends to the analytics routes, the answer is 200 or a documented 4xx in the
native shape — never a 5xx (hypothesis: random bodies and parameters, valid and broken)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.helpers import read_headers

SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["30d", "7d", "month", "1h", "0", "2026-11-01", "1970-01-01", "2299-12-31",
                     "0001-01-01", "/**", "*", "pageview", "browser", "prop:plan", "users"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
steps = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "event": st.one_of(st.text(max_size=20), values),
            "page": st.one_of(st.sampled_from(["/**", "/a*", "/*/*", "\\", "(", "[a"]), values),
            "filters": st.dictionaries(st.text(max_size=10), scalars, max_size=3),
            "name": values,
        },
    ),
    max_size=4,
)
funnel_bodies = st.fixed_dictionaries(
    {"steps": steps},
    optional={
        "window": values, "date_range": st.one_of(values, st.lists(scalars, max_size=3)),
        "breakdown": values, "breakdown_limit": values, "counting": values,
        "include_bots": values,
    },
)  # fmt: skip
params = st.dictionaries(
    st.sampled_from(["period", "cohorts", "returning_event", "first_event", "end", "counting",
                     "include_bots", "date_range", "interval", "limit", "other"]),
    st.text(max_size=25) | st.sampled_from(["week", "day", "12", "53", "2026-11-30", "30d",
                                           "1970-01-01", "2299-12-31", "true", "month"]),
)  # fmt: skip


def assert_answered(response: httpx.Response) -> None:
    assert response.status_code in (200, 400, 404), (response.status_code, response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error", "message", "field"}, response.text


def test_random_funnels_never_fail_the_server(embedded):
    headers = read_headers(embedded.projects[0])

    @SETTINGS
    @given(body=st.one_of(funnel_bodies, values))
    def call(body):
        assert_answered(httpx.post(f"{embedded.url}/v1/funnels", json=body, headers=headers))

    call()


def test_random_parameters_never_fail_the_server(embedded):
    headers = read_headers(embedded.projects[0])

    @SETTINGS
    @given(
        path=st.sampled_from(["/v1/retention", "/v1/revenue", "/v1/users/u"]),
        query=params,
        user=st.text(min_size=1, max_size=30),
    )
    def call(path, query, user):
        if path.startswith("/v1/users"):
            path = "/v1/users/" + quote(user, safe="")
        assert_answered(httpx.get(embedded.url + path, params=query, headers=headers))

    call()
