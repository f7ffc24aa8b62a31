"""The storage process's read lanes, on the real engine: light reads at normal CPU priority,
aggregates at ``storage_read_nice`` (pipeline/runtime/read_lanes.py)."""

from __future__ import annotations

import pytest

from pipeline.runtime.owner import StorageOwner
from pipeline.settings import Settings

PRIORITY = "SELECT getSetting('os_thread_priority')"


@pytest.fixture
def owner(tmp_path):
    started = StorageOwner(Settings(data_dir=tmp_path, storage_read_nice=17))
    started.start(0)
    yield started
    started.stop()


def test_light_reads_run_at_normal_priority_and_aggregates_at_the_lowest(owner):
    assert owner.clickhouse.query(PRIORITY)[1] == [(0,)]
    assert owner.aggregates.query(PRIORITY)[1] == [(17,)]


def test_both_lane_classes_read_the_same_stored_data(owner):
    count = "SELECT count() FROM trackhouse.projects"
    owner.clickhouse.command(
        "INSERT INTO trackhouse.projects (project_id, name) VALUES ('p1', 'one')"
    )
    assert owner.clickhouse.query(count)[1] == owner.aggregates.query(count)[1] == [(1,)]
