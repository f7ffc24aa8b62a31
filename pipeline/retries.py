"""The retry policies, one per boundary (tenacity), defined here once and never nested.

- ``insert`` / ``insert_async``: a runtime sink's ClickHouse insert of a batch's rows. Waits
  0.5 s doubling to 10 s (plus up to 0.5 s of jitter); forever: a batch is never skipped
  (only the embedded runtime's shutdown, past its timeout, gives up; the rows come again from
  the checkpoint at the next start).
- ``publish_async``: the Kafka worker's publish of a batch's records (outputs, state
  changelog). Waits 0.2 s doubling to 10 s; forever, until the broker acknowledged every record.
- ``write``: occasional ClickHouse writes (registry, tombstones, dead-letter replays). Waits
  0.2 s doubling to 10 s (plus up to 1 s of jitter); 8 attempts, then the error is raised.
- ``notify_async``: one notification delivery to its destination. Waits ``base`` seconds
  doubling to ``cap`` (plus up to ``base`` of jitter), or what the destination's
  ``Retry-After`` asked if longer; for ``give_up_after`` seconds (24 h by default), then the
  delivery is a dead letter. Only ``RetryableError`` is retried (a ``4xx`` other than
  408/429 is not).

A ``CancelledError`` (or any ``BaseException`` that is not an ``Exception``) is never retried: it
goes through at once. Each failed attempt calls the caller's ``on_failure`` (metrics, logs)
before the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_exponential_jitter,
)

INSERT_WAIT = wait_exponential_jitter(multiplier=0.5, max=10.0, jitter=0.5)
PUBLISH_WAIT = wait_exponential(multiplier=0.2, max=10.0)
WRITE_WAIT = wait_exponential_jitter(multiplier=0.2, max=10.0)
WRITE_ATTEMPTS = 8

OnFailure = Callable[[BaseException], None]
Stop = Callable[[RetryCallState], bool]  # a tenacity stop condition


def _before_sleep(on_failure: OnFailure) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        if state.outcome is not None and (exc := state.outcome.exception()) is not None:
            on_failure(exc)

    return before_sleep


def _policy(wait: Any, stop: Stop, on_failure: OnFailure) -> dict[str, Any]:
    return {
        "wait": wait,
        "stop": stop,
        "retry": retry_if_exception_type(Exception),
        "before_sleep": _before_sleep(on_failure),
        "reraise": True,
    }


def insert(on_failure: OnFailure, stop: Stop = stop_never) -> Retrying:
    """Insert a batch's rows until they are in (``stop``: the embedded runtime's shutdown)."""
    return Retrying(**_policy(INSERT_WAIT, stop, on_failure))


def insert_async(on_failure: OnFailure) -> AsyncRetrying:
    """Insert a batch's rows until they are in; a cancellation goes through."""
    return AsyncRetrying(**_policy(INSERT_WAIT, stop_never, on_failure))


def publish_async(on_failure: OnFailure) -> AsyncRetrying:
    """Send records until the broker acknowledged all of them; a cancellation goes through."""
    return AsyncRetrying(**_policy(PUBLISH_WAIT, stop_never, on_failure))


# An occasional write (not a runtime's batch): a few attempts, then its caller hears of it.
write = retry(
    wait=WRITE_WAIT,
    stop=stop_after_attempt(WRITE_ATTEMPTS),
    retry=retry_if_exception_type(Exception),
    reraise=True,
)


class RetryableError(Exception):
    """A failure worth another attempt; ``retry_after``: what the other side asked (seconds)."""

    retry_after: float = 0.0


def _wait_at_least_retry_after(base: Any) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", 0.0) or 0.0
        return max(float(base(state)), asked)

    return wait


def notify_async(
    on_failure: OnFailure, base: float, cap: float, give_up_after: float
) -> AsyncRetrying:
    """Deliver one notification until it is in, or ``give_up_after`` seconds have passed (the
    caller then makes it a dead letter); honours ``retry_after``."""
    backoff = wait_exponential_jitter(multiplier=base, max=cap, jitter=base)
    wait = _wait_at_least_retry_after(backoff)
    return AsyncRetrying(
        wait=wait,
        stop=stop_after_delay(give_up_after),
        retry=retry_if_exception_type(RetryableError),
        before_sleep=_before_sleep(on_failure),
        reraise=True,
    )
