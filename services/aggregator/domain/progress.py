"""Progress over the plan year, indicator by indicator: the board's charts (pure, no I/O).

At the data cut-off of every month the facts then known are folded and each of the indicator's
yearly targets judged as the projection would have judged it that day; the agencies' actuals,
expected-by-pace figures and targets add up into one point per month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import end_of_day, evaluate
from services.aggregator.domain.ledger import AgencyLedger
from shared.plan.periods import Period


@dataclass(frozen=True)
class Checkpoint:
    day: date  # a month's data cut-off (14 June for June's figures)
    actual: float
    expected: float
    target: float  # the targets known that day (a ratio's goal moves with its denominator)


def checkpoint_days(year: int, cutoff_day: int, until: date) -> list[date]:
    """Each month's data cut-off in the plan year, up to `until`."""
    return [d for d in (date(year, m, cutoff_day) for m in range(1, 13)) if d <= until]


def year_progress(
    facts: Iterable[Fact], plan, until: datetime, *, submission_days: int = 10
) -> dict[str, list[Checkpoint]]:
    """Per indicator with yearly targets, one checkpoint per month up to `until`: the month's
    figures judged `submission_days` after its cut-off (when its reports are in) or at `until`."""
    facts = list(facts)
    year = str(Period.parse(plan.year))
    targets = [t for t in plan.targets_for() if t.period == year]
    series: dict[str, list[Checkpoint]] = {t.indicator: [] for t in targets}
    for day in checkpoint_days(int(year), plan.cutoff_day, until.date()):
        moment = min(end_of_day(day + timedelta(days=submission_days), plan.tz), until)
        ledgers = fold(facts, plan, until=moment)
        sums: dict[str, list[float]] = {code: [0.0, 0.0, 0.0] for code in series}
        for target in targets:
            kpi = evaluate(ledgers.get(target.agency, AgencyLedger(target.agency)), target, plan, moment)
            totals = sums[target.indicator]
            totals[0] += kpi.actual
            totals[1] += kpi.expected or 0.0
            totals[2] += kpi.target or 0.0
        for code, (actual, expected, goal) in sums.items():
            series[code].append(Checkpoint(day, actual, expected, goal))
    return series
