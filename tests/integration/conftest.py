from __future__ import annotations

import pytest

from tests.integration.server import Server, cli


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A running embedded server with two projects (created before it starts)."""
    data_dir = tmp_path_factory.mktemp("embedded") / "data"
    project_a = cli(data_dir, "projects", "create", "alpha")
    project_b = cli(data_dir, "projects", "create", "beta")
    server = Server(data_dir).start()
    server.projects = (project_a, project_b)
    yield server
    assert server.stop() == 0, server.log()
