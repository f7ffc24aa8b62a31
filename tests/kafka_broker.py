"""A real Kafka broker for tests: ``TRACKHOUSE_KAFKA_BOOTSTRAP`` if set, else testcontainers'
Kafka when a Docker engine answers, else the Apache Kafka of ``deploy/kafka`` on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parents[1]
KAFKA_IMAGE = "apache/kafka:4.1.2"


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class LocalBroker:
    """deploy/kafka/start.sh and stop.sh on a run directory of its own."""

    def __init__(self, run_dir: Path) -> None:
        self.env = {**os.environ, "KAFKA_RUN_DIR": str(run_dir)}
        self.bootstrap = ""

    def start(self) -> str:
        out = subprocess.run(
            [str(ROOT / "deploy/kafka/start.sh")],
            env=self.env,
            text=True,
            capture_output=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"deploy/kafka/start.sh failed:\n{out.stdout}\n{out.stderr}")
        self.bootstrap = out.stdout.strip().splitlines()[-1]
        return self.bootstrap

    def stop(self) -> None:
        subprocess.run(
            [str(ROOT / "deploy/kafka/stop.sh")], env=self.env, timeout=120, capture_output=True
        )


@contextmanager
def kafka_bootstrap(run_dir: Path) -> Iterator[str]:
    """Yield a bootstrap address of a running broker, in the documented order of preference."""
    external = os.environ.get("TRACKHOUSE_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    if docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalBroker(run_dir)
    try:
        yield broker.start()
    finally:
        broker.stop()


async def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list:
    """The topic's records from the start, until ``expected`` of them or ``timeout`` s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(messages)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records
