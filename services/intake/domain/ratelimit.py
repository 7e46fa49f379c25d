"""Per-agency token bucket. Pure: the caller passes `now` (seconds, any monotonic origin)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # events refilled per second
    capacity: float  # the burst an agency may send at once
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, capacity: float, now: float) -> TokenBucket:
        return cls(rate, capacity, capacity, now)

    def take(self, cost: float, now: float) -> float:
        """Spend `cost` tokens; 0.0 if allowed, else the seconds to wait before retrying."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)
        if cost <= self.tokens:
            self.tokens -= cost
            return 0.0
        if cost > self.capacity:
            return math.inf  # never fits; the caller must split the request
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """One bucket per agency; the agency set is the plan's, so memory stays bounded."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, agency: str, cost: float, now: float) -> float:
        bucket = self._buckets.get(agency)
        if bucket is None:
            bucket = self._buckets[agency] = TokenBucket.full(self.rate, self.capacity, now)
        return bucket.take(cost, now)
