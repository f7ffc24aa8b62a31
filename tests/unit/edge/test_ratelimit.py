import pytest

from pipeline.edge import ratelimit
from pipeline.edge.ratelimit import TokenBuckets


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    return now


def test_a_burst_is_allowed_then_refused_until_tokens_refill(clock):
    buckets = TokenBuckets(rate=10, burst=20)
    assert buckets.take("p", 20) == 0
    assert buckets.take("p", 5) == pytest.approx(0.5)  # 5 tokens at 10/s
    clock[0] += 0.5
    assert buckets.take("p", 5) == 0
    assert buckets.take("p", 1) > 0


def test_keys_have_their_own_buckets_and_zero_rate_disables(clock):
    buckets = TokenBuckets(rate=10, burst=20)
    assert buckets.take("a", 20) == 0
    assert buckets.take("b", 20) == 0
    assert buckets.take("a", 1) > 0
    assert TokenBuckets(rate=0, burst=0).take("a", 10**9) == 0


def test_more_than_the_burst_waits_for_a_full_bucket(clock):
    buckets = TokenBuckets(rate=10, burst=20)
    buckets.take("p", 20)
    assert buckets.take("p", 100) == pytest.approx(2.0)


def test_the_oldest_bucket_is_dropped_past_max_keys(clock):
    buckets = TokenBuckets(rate=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        assert buckets.take(key, 1) == 0
    assert buckets.take("a", 1) == 0  # "a" was dropped, so it starts full again
    assert buckets.take("c", 1) > 0


def test_tokens_given_back_are_available_again_up_to_the_burst(clock):
    buckets = TokenBuckets(rate=10, burst=20)
    assert buckets.take("p", 20) == 0
    buckets.give_back("p", 15)  # those events were not accepted after all
    assert buckets.take("p", 15) == 0
    assert buckets.take("p", 1) > 0
    buckets.give_back("p", 100)  # never above the burst
    assert buckets.take("p", 21) == 0  # more than the burst: taken from a full bucket...
    assert buckets.take("p", 1) == pytest.approx(0.2)  # ...which is then 1 token in debt
