"""Simulated agency reporting over a stretch of the plan year (pure: no I/O, no clock).

Used by the demo, the system tests and the benchmarks, so they all replay the same realistic
stream: after each reporting period's cut-off an agency reports the cumulative figure of each
indicator it has a target for (at its own pace), then declares its report submitted — on time,
late, or never.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from shared.events import EventType, agency_source
from shared.plan import Plan, Target
from shared.plan.periods import Period

REPORT_HOUR = time(9, 0)


@dataclass(frozen=True)
class Behaviour:
    """How one agency reports: `pace` 1.0 = exactly the expected pace, 0.5 = half of it."""

    pace: float = 1.05
    late_days: int = 0  # the report of the latest period is this many days past its deadline
    skips_latest_report: bool = False  # the latest period's report never comes (→ missing)


@dataclass
class Simulation:
    plan: Plan
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    seed: int = 2024

    def events(self, until: datetime) -> list[dict]:
        """Structured CloudEvents for every report due before `until`, ordered by time."""
        rng = random.Random(self.seed)
        events = [e for agency in self._reporting_agencies() for e in self._agency_events(agency, until, rng)]
        return sorted(
            (e for e in events if datetime.fromisoformat(e["time"]) <= until), key=lambda e: e["time"]
        )

    def _reporting_agencies(self) -> list[str]:
        return sorted(a.code for a in self.plan.agencies if self.plan.reporting_rule(a.code))

    def _agency_events(self, agency: str, until: datetime, rng: random.Random) -> Iterator[dict]:
        behaviour = self.behaviours.get(agency, Behaviour())
        done: dict[str, int] = {}  # activity-counted figures: how much the activities so far make
        periods = [p for p in self.plan.reporting_periods(agency) if self._report_time(agency, p, 0) <= until]
        for index, period in enumerate(periods):
            latest = index == len(periods) - 1
            late = behaviour.late_days if latest else 0
            at = self._report_time(agency, period, late)
            cutoff = period.window(self.plan.cutoff_day)[1]
            targets = self._targets_measured_by(agency, period)
            counted = [
                t for t in targets if self.plan.index.figure_source(agency, t.indicator) == "activities"
            ]
            for target in targets:
                if target not in counted:
                    yield from self._figure_events(agency, target, cutoff, at, behaviour.pace, rng)
            yield from self._activity_events(agency, counted, cutoff, at, behaviour.pace, done)
            if not (latest and behaviour.skips_latest_report):
                yield self._event(
                    agency, f"{period}-report", EventType.REPORT_SUBMITTED, at, {"period": str(period)}
                )

    def _report_time(self, agency: str, period: Period, late_days: int) -> datetime:
        """Reports come in the morning after the cut-off; a late one some days past the deadline."""
        if late_days:
            deadline = self.plan.deadline(agency, period)
            return datetime.combine(deadline.date() + timedelta(days=late_days), REPORT_HOUR, self.plan.tz)
        day = period.window(self.plan.cutoff_day)[1] + timedelta(days=1)
        return datetime.combine(day, REPORT_HOUR, self.plan.tz)

    def _targets_measured_by(self, agency: str, period: Period) -> list[Target]:
        """Targets whose period covers this reporting period's cut-off."""
        cutoff = period.window(self.plan.cutoff_day)[1]
        return [
            t
            for t in self.plan.targets_for(agency=agency)
            if t.as_period.window(self.plan.cutoff_day)[0]
            <= cutoff
            <= t.as_period.window(self.plan.cutoff_day)[1]
        ]

    def _figure_events(
        self, agency: str, target: Target, cutoff: date, at: datetime, pace: float, rng: random.Random
    ) -> Iterator[dict]:
        fraction = target.expected_fraction(cutoff, self.plan.cutoff_day)
        if target.kind == "ratio":
            # Report the denominator first: the ratio's target is a share of it.
            base = round(30 * fraction * rng.uniform(0.9, 1.1))
            yield self._reported(agency, target.denominator, target.period, base, at)
            yield self._reported(agency, target.indicator, target.period, round(base * min(pace, 1.0)), at)
            return
        goal = target.target_value() or 0
        yield self._reported(agency, target.indicator, target.period, round(goal * fraction * pace), at)

    def _activity_events(
        self,
        agency: str,
        targets: list[Target],
        cutoff: date,
        at: datetime,
        pace: float,
        done: dict[str, int],
    ) -> Iterator[dict]:
        """The plan counts these figures from recorded activities (docs/plan.md): instead of a
        figure, the sessions held since the last report, dated on the cut-off day, their
        participants shared out so both figures keep the agency's pace."""
        due = {
            t.indicator: round(
                (t.target_value() or 0) * t.expected_fraction(cutoff, self.plan.cutoff_day) * pace
            )
            - done.get(t.indicator, 0)
            for t in targets
        }
        for activity in self.plan.activity_types:
            into = {c.indicator: c.measure for c in activity.counts_into if c.indicator in due}
            if not into:
                continue
            sessions = max([due[i] for i, m in into.items() if m == "count"] or [0], default=0)
            people = max([due[i] for i, m in into.items() if m == "participants"] or [0], default=0)
            n = max(sessions, 1 if people > 0 else 0)
            for k in range(n):
                share = people // n + (1 if k < people % n else 0)
                yield self._event(
                    agency,
                    f"{cutoff:%Y%m%d}-{activity.code}-{k}",
                    EventType.ACTIVITY_RECORDED,
                    at,
                    {"activity": activity.code, "date": cutoff.isoformat(), "participants": share},
                )
            for indicator, measure in into.items():
                done[indicator] = done.get(indicator, 0) + (n if measure == "count" else people)
            due = {i: v for i, v in due.items() if i not in into}

    def _reported(self, agency: str, indicator: str | None, period: str, value: float, at: datetime) -> dict:
        return self._event(
            agency,
            f"{period}-{indicator}-{at:%Y%m%d}",
            EventType.INDICATOR_REPORTED,
            at,
            {"indicator": indicator, "period": period, "value": value},
        )

    @staticmethod
    def _event(agency: str, key: str, type_: EventType, at: datetime, data: dict) -> dict:
        return {
            "specversion": "1.0",
            "id": f"{agency}-{key}".lower(),
            "source": agency_source(agency),
            "type": str(type_),
            "time": at.isoformat(),
            "data": data,
        }
