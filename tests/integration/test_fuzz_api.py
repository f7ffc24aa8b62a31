"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis): whatever
the generated request, the running server answers without a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_OPERATION = 40


def test_no_request_makes_the_server_fail(embedded):
    schema = schemathesis.openapi.from_url(embedded.url + "/openapi.json")
    key = embedded.projects[0]["secret_key"]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/events", "/v1/batch", "/v1/sessions"}
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case) -> None:
            case.headers = {**(case.headers or {}), "X-API-Key": key}
            response = case.call(timeout=30)
            if response.status_code >= 500:
                body = repr(case.body)[:300]
                status = response.status_code
                failures.append(f"{case.method} {case.formatted_path} {body}: {status}")

        call()
    assert not failures, failures
