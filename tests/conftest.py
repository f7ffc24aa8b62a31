from __future__ import annotations

import pytest

from tests.kafka_broker import kafka_bootstrap


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """Bootstrap address of a real Kafka broker shared by the test session."""
    with kafka_bootstrap(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap
