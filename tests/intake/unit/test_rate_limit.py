import math

import pytest

from services.intake.domain.ratelimit import AuthGuard, FailureLimiter, RateLimiter, TokenBucket


def test_bucket_allows_the_burst_then_asks_to_wait_for_the_refill():
    bucket = TokenBucket.full(rate=10, capacity=20, now=0.0)
    assert bucket.take(20, now=0.0) == 0.0
    assert bucket.take(5, now=0.0) == 0.5  # 5 tokens at 10/s
    assert bucket.take(5, now=0.5) == 0.0


def test_refill_never_exceeds_capacity_and_ignores_time_going_backwards():
    bucket = TokenBucket.full(rate=10, capacity=20, now=0.0)
    bucket.take(20, now=0.0)
    assert bucket.take(20, now=1000.0) == 0.0
    assert bucket.take(1, now=999.0) == 0.1  # clock went back: no refill, no negative time


def test_a_request_larger_than_the_burst_can_never_pass():
    assert math.isinf(TokenBucket.full(rate=10, capacity=20, now=0).take(21, now=0))


def test_agencies_have_separate_buckets():
    limiter = RateLimiter(rate=1, capacity=2)
    assert limiter.take("CA-TINH", 2, now=0) == 0
    assert limiter.take("CA-TINH", 1, now=0) == 1.0
    assert limiter.take("HQ", 2, now=0) == 0


def test_failed_attempts_are_limited_per_key_and_refill_per_minute():
    limiter = FailureLimiter(rate=6 / 60, capacity=3)  # 3 at once, then one every 10 s
    assert [limiter.take("10.0.0.1", now=0) for _ in range(3)] == [0, 0, 0]
    assert limiter.take("10.0.0.1", now=0) == 10.0
    assert limiter.take("10.0.0.2", now=0) == 0  # another key has its own budget
    assert limiter.take("10.0.0.1", now=4) == pytest.approx(6.0)  # a refused attempt is not charged
    assert limiter.take("10.0.0.1", now=10) == 0
    assert limiter.take("10.0.0.1", now=10) == 10.0


def test_a_successful_attempt_is_given_back():
    limiter = FailureLimiter(rate=1 / 60, capacity=2)
    for _ in range(10):  # a client that always succeeds is never limited
        assert limiter.take("10.0.0.1", now=0) == 0
        limiter.give_back("10.0.0.1")
    limiter.give_back("never-seen")  # nothing to give back: no error, no bucket
    assert limiter.take("10.0.0.1", now=0) == 0
    assert limiter.take("10.0.0.1", now=0) == 0
    assert limiter.take("10.0.0.1", now=0) > 0


def test_concurrent_attempts_cannot_overrun_the_budget_while_they_are_checked():
    limiter = FailureLimiter(rate=1 / 60, capacity=5)
    charged = [limiter.take("10.0.0.1", now=0) for _ in range(24)]  # all in flight at once
    assert charged.count(0) == 5


def test_memory_is_bounded_by_forgetting_the_least_recently_charged_keys():
    limiter = FailureLimiter(rate=1 / 60, capacity=1, max_keys=2)
    assert limiter.take("a", now=0) == 0
    assert limiter.take("b", now=0) == 0
    assert limiter.take("a", now=0) > 0  # "a" charged again: now the most recent
    assert limiter.take("c", now=0) == 0  # "b" is forgotten, not "a"
    assert limiter.take("a", now=0) > 0
    assert limiter.take("b", now=0) == 0  # a forgotten key starts with a full budget


def test_auth_guard_limits_the_address_and_the_token_id_separately():
    guard = AuthGuard.of(address_burst=2, address_per_min=6, token_burst=3, token_per_min=60)
    assert [guard.attempt_from("10.0.0.1", 0), guard.attempt_from("10.0.0.1", 0)] == [0, 0]
    assert guard.attempt_from("10.0.0.1", 0) == 10.0
    assert [guard.attempt_on("0123456789ab", 0) for _ in range(3)] == [0, 0, 0]
    assert guard.attempt_on("0123456789ab", 0) == 1.0
    guard.succeeded("10.0.0.1", "0123456789ab")
    assert guard.attempt_from("10.0.0.1", 0) == 0
    assert guard.attempt_on("0123456789ab", 0) == 0
