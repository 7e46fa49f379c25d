"""The one clock of the system.

Deadlines, pace and quiet hours all depend on "now", and the 2024 plan lies in the past, so
every service reads time from a `Clock` that configuration can pin or shift. The domain never
calls the system clock: it receives `now` as an argument.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Starts at `start` and advances `speed` times as fast as real time (0 = frozen)."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the pinned time needs a UTC offset, e.g. 2024-06-20T08:00:00+07:00")
        self._start = start
        self._speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)


class ManualClock:
    """For tests: moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def clock_from_config(now: datetime | None, speed: float = 1.0) -> Clock:
    return SystemClock() if now is None else ShiftedClock(now, speed)
