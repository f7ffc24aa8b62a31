"""docker-compose.yml cannot be run here (no Docker engine); this checks what can be checked:
it parses, has the documented services, and speaks the code's settings and commands."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from pipeline.cli import main
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
TRACKHOUSE_SERVICES = ("topics", "edge", "worker-1", "worker-2")


def test_services_are_kafka_kraft_clickhouse_one_edge_two_workers():
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    commands = [services[name]["command"][0] for name in TRACKHOUSE_SERVICES]
    assert commands == ["topics", "edge", "worker", "worker"]


def test_every_trackhouse_variable_is_a_setting():
    fields = {f"TRACKHOUSE_{name.upper()}" for name in Settings.model_fields}
    for name in TRACKHOUSE_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert env, name
        unknown = {key for key in env if key.startswith("TRACKHOUSE_")} - fields
        assert not unknown, (name, unknown)
    env = COMPOSE["services"]["edge"]["environment"]
    settings = Settings(**{k[len("TRACKHOUSE_") :].lower(): v for k, v in env.items()})
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.clickhouse_dsn.startswith("http://")


def test_every_command_parses_with_the_cli():
    for name in TRACKHOUSE_SERVICES:
        args = list(COMPOSE["services"][name]["command"])
        command: click.Command = main
        while isinstance(command, click.Group):
            command = command.commands[args.pop(0)]
        command.make_context(name, args)  # raises on an unknown option


def test_no_service_sets_a_setting_its_mode_ignores():
    from pipeline.mode_settings import ignored_settings

    modes = {"edge": "kafka-edge", "worker": "kafka-worker"}
    for name in TRACKHOUSE_SERVICES:
        service = COMPOSE["services"][name]
        mode = modes.get(service["command"][0])
        if mode is None:
            continue
        env = service["environment"]
        settings = Settings(**{k[len("TRACKHOUSE_") :].lower(): v for k, v in env.items()})
        assert ignored_settings(settings, mode) == [], name  # type: ignore[arg-type]
