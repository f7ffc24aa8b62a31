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


@pytest.fixture(scope="module")
def patient_embedded(tmp_path_factory):
    """``embedded`` with a patient backlog limit, for tests about a client library rather than
    load shedding: a busy 2-core CI machine may fall behind the default 1.5 s, and a pixel or a
    batch sent as a page closes cannot be retried after a 503."""
    data_dir = tmp_path_factory.mktemp("embedded") / "data"
    projects = tuple(cli(data_dir, "projects", "create", name) for name in ("alpha", "beta"))
    server = Server(data_dir, env={"TRACKHOUSE_MAX_BACKLOG_SECONDS": "60"}).start()
    server.projects = projects
    yield server
    assert server.stop() == 0, server.log()
