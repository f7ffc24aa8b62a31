"""The retry policies: what they retry, what goes through at once."""

from __future__ import annotations

import asyncio

import pytest
from tenacity import wait_none

from pipeline import retries


def test_publish_retries_failures_until_it_succeeds(monkeypatch):
    monkeypatch.setattr("pipeline.retries.PUBLISH_WAIT", wait_none())
    failures: list[str] = []
    attempts = 0

    async def send() -> str:
        nonlocal attempts
        async for attempt in retries.publish_async(lambda exc: failures.append(str(exc))):
            with attempt:
                attempts += 1
                if attempts < 4:
                    raise ConnectionError(f"no leader {attempts}")
                return "acked"
        raise AssertionError

    assert asyncio.run(send()) == "acked"
    assert failures == ["no leader 1", "no leader 2", "no leader 3"]


def test_a_cancellation_is_never_retried():
    attempts = 0

    async def send() -> None:
        nonlocal attempts
        async for attempt in retries.publish_async(lambda exc: None):
            with attempt:
                attempts += 1
                raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(send())
    assert attempts == 1


def test_occasional_writes_give_up_after_a_few_attempts(monkeypatch):
    calls = 0

    @retries.write
    def write() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("away")

    write.retry.wait = wait_none()  # type: ignore[attr-defined]
    with pytest.raises(ConnectionError):
        write()
    assert calls == retries.WRITE_ATTEMPTS
