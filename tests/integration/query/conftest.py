from __future__ import annotations

import pytest

from tests.integration.server import Server, cli

ANALYST_TOKEN = "analyst-token-for-live-sql-tests"


@pytest.fixture(scope="module")
def analyst_server(tmp_path_factory):
    """A running embedded server with live SQL on (small limits, so tests can reach them) and
    one project."""
    data_dir = tmp_path_factory.mktemp("live-sql") / "data"
    project = cli(data_dir, "projects", "create", "alpha")
    env = {
        "TRACKHOUSE_ANALYST_TOKEN": ANALYST_TOKEN,
        "TRACKHOUSE_LIVE_SQL_MAX_EXECUTION_SECONDS": "2",
        "TRACKHOUSE_LIVE_SQL_MAX_RESULT_ROWS": "10000",
        "TRACKHOUSE_LIVE_SQL_MAX_MEMORY_BYTES": "300000000",
        "TRACKHOUSE_MAX_BACKLOG_SECONDS": "30",
    }
    server = Server(data_dir, env=env).start()
    server.projects = (project,)
    yield server
    assert server.stop() == 0, server.log()
