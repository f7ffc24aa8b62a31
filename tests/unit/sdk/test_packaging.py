"""The Python SDK is its own light distribution (sdk/python, ``trackhouse-sdk``): it needs only
its HTTP client, so a backend that sends events does not pull in chDB, Faust or Kafka; the
server depends on it, not the reverse."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import trackhouse_sdk
from trackhouse_sdk.analyticskit import to_track_kwargs
from trackhouse_sdk.client import VERSION

import pipeline.sdk
import pipeline.sdk.analyticskit

ROOT = Path(__file__).resolve().parents[3]
SDK = ROOT / "sdk" / "python"


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


def test_the_sdk_distribution_depends_on_httpx_only():
    project = _project(SDK / "pyproject.toml")
    assert project["name"] == "trackhouse-sdk"
    assert [d.split(">")[0].split("=")[0].split("<")[0] for d in project["dependencies"]] == [
        "httpx"
    ]


def test_the_sdk_code_imports_only_the_standard_library_and_httpx():
    for source in (SDK / "trackhouse_sdk").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ("httpx", "trackhouse_sdk"), (
                    source.name,
                    name,
                )


def test_the_server_depends_on_the_sdk_at_its_version_and_the_makefile_installs_it():
    assert f"trackhouse-sdk=={VERSION}" in [
        d.split(";")[0].strip() for d in _project(ROOT / "pyproject.toml")["dependencies"]
    ]
    assert "-e sdk/python" in (ROOT / "Makefile").read_text()


def test_pipeline_sdk_still_imports_the_same_objects():
    assert pipeline.sdk.Client is trackhouse_sdk.Client
    assert pipeline.sdk.ValidationError is trackhouse_sdk.ValidationError
    assert pipeline.sdk.analyticskit.to_track_kwargs is to_track_kwargs
    assert set(trackhouse_sdk.__all__) <= set(dir(pipeline.sdk))
