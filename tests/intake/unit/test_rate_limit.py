import math

from services.intake.domain.ratelimit import RateLimiter, TokenBucket


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
