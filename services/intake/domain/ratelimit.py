"""Token buckets: events per agency, failed authentications per address and token id.

Pure: the caller passes `now` (seconds, any monotonic origin)."""

from __future__ import annotations

import math
from collections import OrderedDict
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


class FailureLimiter:
    """Failed authentications per key (a client address, a token id), as token buckets of attempts.

    An attempt is charged before the costly check (`take`) and given back if it succeeds
    (`give_back`): concurrent attempts cannot overrun the budget while their checks run. Memory
    stays bounded: the least recently charged keys are forgotten first, and a forgotten key
    starts again with a full budget, which is at most what it was owed by now anyway.
    """

    def __init__(self, rate: float, capacity: float, max_keys: int = 100_000) -> None:
        self.rate, self.capacity, self.max_keys = rate, capacity, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        """Charge one attempt: 0.0 if `key` had one left, else the seconds to wait (nothing charged)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket.full(self.rate, self.capacity, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(1, now)

    def give_back(self, key: str) -> None:
        """The attempt succeeded: it does not count as a failure."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(bucket.capacity, bucket.tokens + 1)


class AuthGuard:
    """Who may still try a token the costly way: per client address, and per token id so that
    many addresses guessing one agency's secret are bounded too. Give the token id the larger
    budget: then one address alone cannot spend it, and the agency's own clients keep theirs."""

    def __init__(self, *, per_address: FailureLimiter, per_token: FailureLimiter) -> None:
        self.per_address, self.per_token = per_address, per_token

    @classmethod
    def of(
        cls, *, address_burst: float, address_per_min: float, token_burst: float, token_per_min: float
    ) -> AuthGuard:
        return cls(
            per_address=FailureLimiter(address_per_min / 60, address_burst),
            per_token=FailureLimiter(token_per_min / 60, token_burst),
        )

    def attempt_from(self, address: str, now: float) -> float:
        return self.per_address.take(address, now)

    def attempt_on(self, token_id: str, now: float) -> float:
        return self.per_token.take(token_id, now)

    def succeeded(self, address: str, token_id: str) -> None:
        self.per_address.give_back(address)
        self.per_token.give_back(token_id)
