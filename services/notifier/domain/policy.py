"""How often and when: grouping intervals, escalation delays, quiet hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """Nothing is sent between start and end local time (may wrap past midnight), in the plan's zone."""

    start: time
    end: time
    timezone: str

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_end(self, now: datetime) -> datetime:
        """When sending may resume (now itself if outside quiet hours)."""
        if not self.contains(now):
            return now
        local = now.astimezone(ZoneInfo(self.timezone))
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end


@dataclass(frozen=True)
class DigestPolicy:
    group_wait: timedelta = timedelta(minutes=30)
    group_interval: timedelta = timedelta(hours=24)
    # A new critical alert may break the once-a-day rhythm, but not more often than this.
    critical_interval: timedelta = timedelta(hours=2)
    repeat_interval: timedelta = timedelta(hours=24)
    # Delay before each escalation step (parent unit, …, steering committee).
    escalation_delays: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=7))
    quiet_hours: QuietHours | None = None
    # If set, non-critical news and reminders wait for this local time: one morning digest a day.
    digest_time: time | None = None
    # the plan's zone (Plan.timezone): digest times are local to the leaders who read them
    timezone: str = field(kw_only=True)

    def digest_slot(self, at_or_after: datetime) -> datetime:
        """The first digest time at or after the moment (the moment itself if there is none)."""
        if self.digest_time is None:
            return at_or_after
        local = at_or_after.astimezone(ZoneInfo(self.timezone))
        slot = local.replace(
            hour=self.digest_time.hour, minute=self.digest_time.minute, second=0, microsecond=0
        )
        return slot if slot >= local else slot + timedelta(days=1)

    def escalation_delay(self, step: int, steps: int) -> timedelta:
        """Step i (0-based) of `steps`: the last step (the committee) takes the last delay."""
        delays = self.escalation_delays or (timedelta(days=3),)
        if step == steps - 1:
            return max(delays[-1], delays[min(step, len(delays) - 1)])
        return delays[min(step, max(len(delays) - 2, 0))]

    def before_digest_time(self, now: datetime) -> bool:
        """Earlier in the local day than the morning digest (never, without a digest time)."""
        return (
            self.digest_time is not None and now.astimezone(ZoneInfo(self.timezone)).time() < self.digest_time
        )

    def quiet(self, now: datetime) -> bool:
        return self.quiet_hours is not None and self.quiet_hours.contains(now)
