"""KPI evaluation: actual against target and expected pace, a year-end forecast, a status.

Pace is the share of the target expected by a date: linear through the period, or shaped by
the baseline year's monthly profile (the June Action Month spike must not make everyone look
behind in May). That date is the agency's data cut-off, not "now": figures arrive with periodic
reports, so an agency is judged at the cut-off of its latest report that is due (or already
in) — a quarter that began last week, or a report whose deadline is still ahead, expects
nothing yet. A milestone counts only the work dated on or before its due date, and one fed by
activities is judged as they arrive (`activity_day`), not at the next quarterly report. Report timeliness compares the first `report.submitted` with the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from services.aggregator.domain.baselines import Baseline, BaselineKey, baselines_of, recorded_keys
from services.aggregator.domain.ledger import AgencyLedger
from shared.events.models import KpiStatus, ReportStatus
from shared.plan.book import Plans
from shared.plan.index import PlanIndex


@dataclass(frozen=True, slots=True)
class Kpi:
    agency: str
    indicator: str
    period: str
    actual: float
    target: float | None
    expected: float | None
    forecast: float | None
    status: KpiStatus
    due: datetime | None = None  # a milestone's due moment

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.agency, self.indicator, self.period)

    @property
    def progress(self) -> float | None:
        """actual / target, the figure dashboards plot."""
        return None if not self.target else self.actual / self.target


@dataclass(frozen=True, slots=True)
class Report:
    agency: str
    period: str
    status: ReportStatus
    deadline: datetime
    submitted_at: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.agency, self.period)


def end_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), zone)


def evaluate(
    ledger: AgencyLedger,
    target: Any,
    plan: PlanIndex,
    as_of: datetime,
    day: date | None = None,
    baseline: float | None = None,
) -> Kpi:
    """One KPI as of a moment (pure: the moment is an argument); `day` is the agency's data
    cut-off at that moment, if the caller has it already; `baseline` a recorded baseline's figure
    (`domain/baselines.py`)."""
    indicator = plan.indicator(target.indicator)
    day = day or data_cutoff(ledger, plan, as_of)
    if target.kind == "milestone":  # only the work dated on or before the due date counts
        actual = ledger.actual_until(target.indicator, target.period, plan, target.due) or 0.0
        if counted_from_activities(plan, ledger.agency, target.indicator):
            day = max(day, activity_day(plan, ledger.agency, as_of))
    else:
        actual = ledger.actual(target.indicator, target.period, plan) or 0.0
    denominator = ledger.actual(target.denominator, target.period, plan) if target.denominator else None
    goal = target.target_value(denominator, baseline)
    due = end_of_day(target.due, plan.tz) if target.due else None
    start, end = target.span(plan.cutoff_day)
    # a ratio's denominator, or a recorded baseline, that nobody reported: nothing to judge against
    if goal is None:
        status = KpiStatus.NO_DATA if day >= start else KpiStatus.ON_TRACK  # once figures are due
        return Kpi(ledger.agency, target.indicator, target.period, actual, None, None, None, status, due)
    goal = indicator.whole(goal)
    fraction = target.expected_fraction(day, plan.cutoff_day)
    expected = target.expected(goal, fraction, indicator)
    if target.kind == "milestone" or indicator.aggregation == "latest":
        forecast: float | None = actual  # a stock or a one-off does not extrapolate
        if target.pace == "at_end" and day < end:
            forecast = None  # its figure comes at the end (a yearly assessment): nothing to go by yet
    else:
        # judged at the end (`at_end`) or not, the forecast extrapolates the days gone by
        pace = (
            fraction if target.pace != "at_end" else target.as_period.elapsed_fraction(day, plan.cutoff_day)
        )
        forecast = actual / pace if pace > 0 else None
    status = _status(indicator, plan.thresholds, actual, goal, expected, forecast, day >= end)
    return Kpi(ledger.agency, target.indicator, target.period, actual, goal, expected, forecast, status, due)


def data_cutoff(ledger: AgencyLedger, plan: PlanIndex, as_of: datetime) -> date:
    """The day an agency's figures are judged at (see the module docstring)."""
    periods = plan.reporting_periods(ledger.agency)
    if not periods:
        return plan.local_day(as_of)  # no reporting rule: figures are judged as they stand
    judged = [
        p
        for p in periods
        if plan.deadline(ledger.agency, p) <= as_of
        or (str(p) in ledger.submitted and ledger.submitted[str(p)] <= as_of)
    ]
    if not judged:  # nothing due yet this year: the day before its first window
        return periods[0].window(plan.cutoff_day)[0] - timedelta(days=1)
    return min(max(p.window(plan.cutoff_day)[1] for p in judged), plan.local_day(as_of))


def counted_from_activities(plan: PlanIndex, agency: str, indicator: str) -> bool:
    """The agency's figure of the indicator comes from recorded activities: as its reporting rule
    says (`from_activities`), or, off its rule, if some activity type counts into it."""
    source = plan.index.figure_source(agency, indicator)
    if source is not None:
        return source == "activities"
    return any(c.indicator == indicator for a in plan.activity_types for c in a.counts_into)


def activity_day(plan: PlanIndex, agency: str, as_of: datetime) -> date:
    """The day a milestone fed by activities is judged at: activities are recorded as they are
    held, not with a periodic report, so the day of `as_of` less the agency's submission
    delay (the days it is given to send what it did), not its report's cut-off."""
    rule = plan.reporting_rule(agency)
    grace = rule.submission_days_after_cutoff if rule is not None else 0
    return plan.local_day(as_of) - timedelta(days=grace)


def _status(indicator, thresholds, actual, goal, expected, forecast, over: bool) -> KpiStatus:
    """`over`: the span (the period, or up to a milestone's due date) has ended at the day judged."""
    if indicator.higher_is_better:
        if actual >= goal:
            return KpiStatus.ACHIEVED
        if over:
            return KpiStatus.MISSED  # terminal: nothing left to catch up in
        if expected <= 0 or actual >= expected:
            return KpiStatus.ON_TRACK
        ratio = actual / expected
    else:  # a ceiling: over it is lagging (missed once the span is over), under it at the end achieved
        if actual > goal:
            return KpiStatus.MISSED if over else KpiStatus.LAGGING
        if over:
            return KpiStatus.ACHIEVED
        ratio = goal / forecast if forecast else 1.0
    if ratio >= thresholds.on_track:
        return KpiStatus.ON_TRACK
    if ratio >= thresholds.at_risk:
        return KpiStatus.AT_RISK
    if indicator.higher_is_better and indicator.kind == "count" and expected - actual <= 1:
        return KpiStatus.AT_RISK  # one whole unit behind: the next one catches up
    return KpiStatus.LAGGING


def report_status(submitted_at: datetime | None, deadline: datetime, now: datetime) -> ReportStatus:
    if submitted_at is None:
        return ReportStatus.MISSING if now > deadline else ReportStatus.PENDING
    return ReportStatus.SUBMITTED if submitted_at <= deadline else ReportStatus.LATE


def evaluate_agency(
    ledger: AgencyLedger,
    plans: Plans,
    now: datetime,
    indicators: set[str] | None = None,
    frozen: dict[BaselineKey, float | None] | None = None,
) -> tuple[list[Kpi], list[Report]]:
    """Every KPI of the agency's targets (only those of `indicators` if given) and its reports,
    in every plan loaded: each year's by its own plan, from the one ledger of the agency's facts
    (periods name their year, so the plans' KPIs never share a key). `frozen`: the recorded
    baselines whose moment has passed (`domain/baselines.py`); the others stand as they are."""
    kpis: list[Kpi] = []
    reports: list[Report] = []
    baselines = baselines_of(ledger, plans, now, frozen) if recorded_keys(plans, ledger.agency) else {}
    for plan in plans.index.indexes:
        k, r = _evaluate_in(ledger, plan, now, indicators, baselines)
        kpis += k
        reports += r
    return kpis, reports


def _evaluate_in(
    ledger: AgencyLedger,
    plan: PlanIndex,
    now: datetime,
    indicators: set[str] | None,
    baselines: dict[BaselineKey, Baseline],
) -> tuple[list[Kpi], list[Report]]:
    kpis = []
    day = None  # the same for every target of the agency
    for target in plan.targets_on(plan.local_day(now), ledger.agency):  # as amended by then
        if indicators is None or target.indicator in indicators or target.denominator in indicators:
            day = day or data_cutoff(ledger, plan, now)
            base = (
                baselines.get((target.indicator, target.baseline_year)) if target.recorded_baseline else None
            )
            kpis.append(evaluate(ledger, target, plan, now, day, base.value if base else None))
    reports = []
    if plan.reporting_rule(ledger.agency) is not None:
        for period in plan.reporting_periods(ledger.agency):
            deadline = plan.deadline(ledger.agency, period)
            submitted = ledger.submitted.get(str(period))
            reports.append(
                Report(
                    ledger.agency, str(period), report_status(submitted, deadline, now), deadline, submitted
                )
            )
    return kpis, reports
