"""What the plan allows an agency to report: pure checks, no I/O, `now` passed in.

Authorization (the event's source, its unit and indicator belong to the token's agency) comes
before content rules, so an agency learns nothing about another agency's data from the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from shared.events.models import (
    ActivityRecordedEvent, CommuneAssessedEvent, IndicatorCorrectedEvent, IndicatorReportedEvent,
    ReportSubmittedEvent, agency_code_of, agency_source,
)
from shared.plan.model import Plan
from shared.plan.periods import Period

from services.intake.domain.problems import FieldError, Problem, pointer


@dataclass(frozen=True)
class Plausibility:
    """A plausibility flag kept on the accepted event (never a rejection)."""

    code: str  # short slug carried in the `warnings` CloudEvents extension
    detail: str


#: how long before the plan year's first data window (15 Dec of the year before, by the default
#: cut-off) an event's `time` may lie; earlier ones belong to an earlier plan (docs/events.md)
PAST_TOLERANCE = timedelta(days=31)


class PlanView:
    """The plan with per-agency lookups precomputed once (the plan is immutable). Plain dicts:
    the hot path must not go through pydantic's attribute machinery on every event."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.year, self.cutoff_day, self.tz = plan.year, plan.cutoff_day, plan.tz
        self.agencies = {a.code for a in plan.agencies}
        self.indicators = {i.code: i for i in plan.indicators}
        self.activities = {a.code: a for a in plan.activity_types}
        self.commune_indicator = plan.commune_assessment_indicator
        self._mine = {a: frozenset(plan.indicators_for(a)) for a in self.agencies}
        self._units = {a.code: frozenset({a.unit} | plan.unit_descendants(a.unit)) for a in plan.agencies}
        self._home = {a.code: a.unit for a in plan.agencies}
        self._population = {u.code: u.population for u in plan.units}
        first_day = Period(plan.year, "year", 1).window(plan.cutoff_day)[0]
        self.earliest = datetime.combine(first_day, time.min, tzinfo=plan.tz) - PAST_TOLERANCE

    def knows_indicator(self, code: str) -> bool:
        return code in self.indicators

    def indicators_of(self, agency: str) -> frozenset[str]:
        return self._mine.get(agency, frozenset())

    def owns_unit(self, agency: str, unit: str) -> bool:
        return unit in self._units.get(agency, ())

    def knows_unit(self, unit: str) -> bool:
        return unit in self._population

    def population(self, agency: str, unit: str | None) -> int | None:
        return self._population.get(unit or self._home.get(agency, ""))


def _field(where: tuple, detail: str) -> tuple[FieldError, ...]:
    return (FieldError(pointer(*where), detail),)


def authorize(event, agency: str, plan: PlanView) -> Problem | None:
    """The token's agency may write this event: its own source, units and indicators only."""
    if event.source != agency_source(agency):
        return Problem("source-mismatch", f"this token belongs to agency {agency}, so `source` must be "
                       f"{agency_source(agency)!r}; got {event.source!r}", _field(("source",), "is not your agency"))
    unit = getattr(event.data, "unit_code", None)
    if unit is not None and plan.knows_unit(unit) and not plan.owns_unit(agency, unit):
        return Problem("foreign-unit", f"unit {unit!r} is not {agency} or one of its subordinate units",
                       _field(("data", "unit_code"), "is not one of your units"))
    code = _indicator_claimed(event, plan)
    if code is not None:
        if plan.knows_indicator(code) and code not in plan.indicators_of(agency):
            mine = ", ".join(sorted(plan.indicators_of(agency))) or "none"
            where = ("data", "indicator") if isinstance(event, IndicatorReportedEvent) else ("type",)
            return Problem("indicator-not-assigned", f"the plan does not assign indicator {code!r} to {agency}; "
                           f"yours are: {mine}", _field(where, "is not assigned to your agency"))
    return None


def _indicator_claimed(event, plan: PlanView) -> str | None:
    """The indicator an event writes to directly (activities count into indicators indirectly,
    and every agency may record activities: the aggregator counts only its own indicators)."""
    if isinstance(event, IndicatorReportedEvent):
        return event.data.indicator
    if isinstance(event, CommuneAssessedEvent):
        return plan.commune_indicator
    return None


def check_sender(source: str, plan: PlanView) -> Problem | None:
    """Kafka path: no token, the source itself must name an agency of the plan."""
    agency = agency_code_of(source)
    if agency not in plan.agencies:
        return Problem("source-mismatch", f"source {source!r} is not an agency of the plan",
                       _field(("source",), "is not an agency of the plan"))
    return None


def check_content(event, plan: PlanView, now: datetime, max_skew: timedelta) -> Problem | list[Plausibility]:
    """The plan's rules on the event's content; plausibility warnings if it passes."""
    if event.time > now + max_skew:
        return Problem("time-in-future", f"`time` {event.time.isoformat()} is more than "
                       f"{int(max_skew.total_seconds())} s ahead of the server's clock ({now.isoformat()}); "
                       "send the time the event happened, with its UTC offset", _field(("time",), "lies in the future"))
    if event.time < plan.earliest:
        return Problem("outside-plan-year", f"`time` {event.time.isoformat()} lies before the plan year {plan.year} "
                       f"(events may be dated from {plan.earliest.isoformat()} on); send the time the event happened",
                       _field(("time",), f"must not be before {plan.earliest.isoformat()}"))
    data = event.data
    unit = getattr(data, "unit_code", None)
    if unit is not None and not plan.knows_unit(unit):
        return Problem("unknown-unit", f"unit {unit!r} is not in the plan", _field(("data", "unit_code"), "is unknown"))
    if isinstance(event, (IndicatorReportedEvent, ReportSubmittedEvent)):
        problem = _check_period(data.period, plan.year)
        if problem:
            return problem
    if isinstance(event, IndicatorReportedEvent):
        return _check_indicator_value(event, plan)
    if isinstance(event, ActivityRecordedEvent):
        return _check_activity(event, plan, now)
    if isinstance(event, CommuneAssessedEvent) and data.year != plan.year:
        return Problem("outside-plan-year", f"the plan covers {plan.year}; this assessment is for {data.year}",
                       _field(("data", "year"), f"must be {plan.year}"))
    return []


@lru_cache(maxsize=1024)  # a plan year has 19 periods; agencies send the same few all the time
def _check_period(text: str, year: int) -> Problem | None:
    try:
        period = Period.parse(text)
    except ValueError as exc:
        return Problem("invalid-event", str(exc), _field(("data", "period"), str(exc)))
    if period.year != year:
        return Problem("outside-plan-year", f"period {text} is outside the plan year {year}",
                       _field(("data", "period"), f"must lie in {year}"))
    return None


def _check_indicator_value(event: IndicatorReportedEvent, plan: PlanView) -> Problem | list[Plausibility]:
    data, agency = event.data, event.agency
    indicator = plan.indicators.get(data.indicator)
    if indicator is None:
        return Problem("unknown-indicator", f"indicator {data.indicator!r} is not in the plan; yours are: "
                       f"{', '.join(sorted(plan.indicators_of(agency))) or 'none'}",
                       _field(("data", "indicator"), "is unknown"))
    problem = cap_problem(data.value, indicator)
    if problem:
        return problem
    warnings = []
    population = plan.population(agency, data.unit_code)
    if indicator.per_population_max and population:
        limit = indicator.per_population_max * population
        if data.value > limit:
            per = indicator.per_population_max
            warnings.append(Plausibility("above-population", f"value {data.value:g} is above {limit:g} "
                                         f"({per:g} per inhabitant of a population of {population})"))
    return warnings


def cap_problem(value: float, indicator) -> Problem | None:
    if value > indicator.max_value or not math.isfinite(value):
        return Problem("value-above-cap", f"value {value:g} exceeds the plan's cap of {indicator.max_value:g} "
                       f"for {indicator.code}; check the figure (and its unit: {indicator.unit_en})",
                       _field(("data", "value"), f"must be at most {indicator.max_value:g}"))
    return None


def _check_activity(event: ActivityRecordedEvent, plan: PlanView, now: datetime) -> Problem | list[Plausibility]:
    data = event.data
    if data.activity not in plan.activities:
        known = ", ".join(sorted(plan.activities)) or "none"
        return Problem("unknown-activity", f"activity type {data.activity!r} is not in the plan; known: {known}",
                       _field(("data", "activity"), "is unknown"))
    if data.date.year != plan.year and Period.containing(data.date, "month", plan.cutoff_day).year != plan.year:
        return Problem("outside-plan-year", f"activity date {data.date} is outside the plan year {plan.year}",
                       _field(("data", "date"), f"must lie in {plan.year}"))
    if data.date > (now.astimezone(plan.tz).date() + timedelta(days=1)):
        return Problem("time-in-future", f"activity date {data.date} lies in the future",
                       _field(("data", "date"), "lies in the future"))
    population = plan.population(event.agency, data.unit_code)
    if population and data.participants > population:
        return [Plausibility("participants-above-population",
                         f"{data.participants} participants is more than the unit's population ({population})")]
    return []


def _short(event_type: str) -> str:
    return event_type.removeprefix("vn.gov.pcmt.").rsplit(".", 1)[0]


class KnownEvent(NamedTuple):  # a tuple: one is made per event, a frozen dataclass costs twice as much
    """What the accepted-event registry remembers of an event, for duplicates and corrections."""

    type: str
    indicator: str | None
    digest: str


def check_correction(event: IndicatorCorrectedEvent, target: KnownEvent | None, plan: PlanView) -> Problem | None:
    """A correction names an earlier event of the *same* agency (lookups are by own source only,
    so another agency's event is indistinguishable from a missing one: nothing leaks)."""
    corrects = event.data.corrects
    if target is None:
        return Problem("correction-target-unknown", f"`data.corrects` names {corrects!r}, but {event.agency} has "
                       "no accepted event with that id; a correction can only replace your own agency's events",
                       _field(("data", "corrects"), "names no event of your agency"))
    if target.indicator is None:
        return Problem("correction-target-unknown", f"event {corrects!r} is a {_short(target.type)} event; "
                       "only reported indicator values can be corrected",
                       _field(("data", "corrects"), "does not name an indicator value"))
    return cap_problem(event.data.value, plan.indicators[target.indicator])
