"""What the plan allows an agency to report: pure checks, no I/O, `now` passed in.

Authorization (the event's source, its unit and indicator belong to the token's agency) comes
before content rules, so an agency learns nothing about another agency's data from the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from services.intake.domain.personal_data import personal_data_problem
from services.intake.domain.problems import FieldError, Problem, pointer
from shared.events.models import (
    ActivityRecordedEvent,
    CommuneAssessedEvent,
    IndicatorCorrectedEvent,
    IndicatorReportedEvent,
    ReportSubmittedEvent,
    agency_code_of,
    agency_source,
)
from shared.plan.book import Plans
from shared.plan.index import PlanIndex, Rejected


@dataclass(frozen=True)
class Plausibility:
    """A plausibility flag kept on the accepted event (never a rejection)."""

    code: str  # short slug carried in the `warnings` CloudEvents extension
    detail: str


def _field(where: tuple, detail: str) -> tuple[FieldError, ...]:
    return (FieldError(pointer(*where), detail),)


def _problem(refusal: Rejected) -> Problem:
    return Problem(refusal.reason, refusal.detail, _field(refusal.where, refusal.field))


def authorize(event, agency: str, plan: PlanIndex) -> Problem | None:
    """The token's agency may write this event: its own source, units and indicators only."""
    if event.source != agency_source(agency):
        return Problem(
            "source-mismatch",
            f"this token belongs to agency {agency}, so `source` must be "
            f"{agency_source(agency)!r}; got {event.source!r}",
            _field(("source",), "is not your agency"),
        )
    try:
        plan.check_unit_owned(agency, getattr(event.data, "unit_code", None))
        where = ("data", "indicator") if isinstance(event, IndicatorReportedEvent) else ("type",)
        plan.check_assigned(agency, _indicator_claimed(event, plan), where)
    except Rejected as refusal:
        return _problem(refusal)
    return None


def _indicator_claimed(event, plan: PlanIndex) -> str | None:
    """The indicator an event writes to directly (activities count into indicators indirectly,
    and every agency may record activities: the aggregator counts only its own indicators)."""
    if isinstance(event, IndicatorReportedEvent):
        return event.data.indicator
    if isinstance(event, CommuneAssessedEvent):
        return plan.commune_assessment_indicator
    return None


def plan_of(event, plans: Plans) -> PlanIndex | Problem:
    """The plan of the event's own reporting year: a report's or a submission's period, an
    activity's day, an assessment's year. A correction's is that of the day it was made (else the
    newest plan): it names no period, and its cap is the corrected indicator's (`check_correction`)."""
    data = event.data
    try:
        if isinstance(event, IndicatorReportedEvent | ReportSubmittedEvent):
            return plans.index_for(period=data.period)
        if isinstance(event, ActivityRecordedEvent):
            return plans.index_for(day=data.date.isoformat())
        if isinstance(event, CommuneAssessedEvent):
            return plans.index_for(year=data.year)
    except Rejected as refusal:
        return _problem(refusal)
    try:
        return plans.index_for(day=event.time.astimezone(plans.latest.tz).date().isoformat())
    except Rejected:
        return plans.latest


def check_sender(source: str, plan: Plans) -> Problem | None:
    """Kafka path: no token, the source itself must name an agency of a plan loaded."""
    agency = agency_code_of(source)
    if agency not in plan.agency_codes:
        return Problem(
            "source-mismatch",
            f"source {source!r} is not an agency of the plan",
            _field(("source",), "is not an agency of the plan"),
        )
    return None


def check_content(event, plan: PlanIndex, now: datetime, max_skew: timedelta) -> Problem | list[Plausibility]:
    """The plan's rules on the event's content (`shared.plan.index`, the aggregator's too);
    plausibility warnings if it passes."""
    if problem := personal_data_problem(event):  # free text must not carry a person's identifiers
        return problem
    if event.time > now + max_skew:
        return Problem(
            "time-in-future",
            f"`time` {event.time.isoformat()} is more than "
            f"{int(max_skew.total_seconds())} s ahead of the server's clock ({now.isoformat()}); "
            "send the time the event happened, with its UTC offset",
            _field(("time",), "lies in the future"),
        )
    if event.time < plan.earliest:
        return Problem(
            "outside-plan-year",
            f"`time` {event.time.isoformat()} lies before the plan year {plan.year} "
            f"(events may be dated from {plan.earliest.isoformat()} on); send the time the event happened",
            _field(("time",), f"must not be before {plan.earliest.isoformat()}"),
        )
    data, agency = event.data, event.agency
    try:
        if isinstance(event, IndicatorReportedEvent):
            limit = plan.report_limit(agency, data.indicator, data.period, data.unit_code)
            plan.check_figure_source(agency, indicator=data.indicator)
            return _check_indicator_value(event, plan, limit)
        if isinstance(event, ActivityRecordedEvent):
            plan.check_activity(agency, data.activity, data.unit_code)
            plan.check_activity_day(data.date.isoformat(), data.unit_code, agency)
            plan.check_figure_source(agency, activity=data.activity)
            return _check_activity(event, plan, now)
        if isinstance(event, ReportSubmittedEvent):
            plan.check_submission(agency, data.period)
        elif isinstance(event, CommuneAssessedEvent):
            plan.check_assessment(agency, data.unit_code, data.year)
    except Rejected as refusal:
        return _problem(refusal)
    return []


def _check_indicator_value(
    event: IndicatorReportedEvent, plan: PlanIndex, limit: float
) -> Problem | list[Plausibility]:
    data, agency = event.data, event.agency
    indicator = plan.indicator(data.indicator)
    problem = cap_problem(data.value, data.indicator, plan)
    if problem:
        return problem
    warnings = []
    population = plan.population(agency, data.unit_code)
    if indicator.per_population_max and population:
        limit = indicator.per_population_max * population
        if data.value > limit:
            per = indicator.per_population_max
            warnings.append(
                Plausibility(
                    "above-population",
                    f"value {data.value:g} is above {limit:g} "
                    f"({per:g} per inhabitant of a population of {population})",
                )
            )
    return warnings


def cap_problem(value: float, indicator: str, plan: PlanIndex) -> Problem | None:
    if value > plan.indicator(indicator).max_value or not math.isfinite(value):
        return _problem(plan.over_cap(value, indicator))
    return None


def _check_activity(
    event: ActivityRecordedEvent, plan: PlanIndex, now: datetime
) -> Problem | list[Plausibility]:
    data = event.data
    if data.date > (now.astimezone(plan.tz).date() + timedelta(days=1)):
        return Problem(
            "time-in-future",
            f"activity date {data.date} lies in the future",
            _field(("data", "date"), "lies in the future"),
        )
    population = plan.population(event.agency, data.unit_code)
    if population and data.participants > population:
        return [
            Plausibility(
                "participants-above-population",
                f"{data.participants} participants is more than the unit's population ({population})",
            )
        ]
    return []


def _short(event_type: str) -> str:
    return event_type.removeprefix("vn.gov.pcmt.").rsplit(".", 1)[0]


class KnownEvent(NamedTuple):  # a tuple: one is made per event, a frozen dataclass costs twice as much
    """What the accepted-event registry remembers of an event, for duplicates and corrections."""

    type: str
    indicator: str | None
    digest: str


def check_correction(
    event: IndicatorCorrectedEvent, target: KnownEvent | None, plans: Plans
) -> Problem | None:
    """A correction names an earlier event of the *same* agency (lookups are by own source only,
    so another agency's event is indistinguishable from a missing one: nothing leaks)."""
    corrects = event.data.corrects
    if target is None:
        return Problem(
            "correction-target-unknown",
            f"`data.corrects` names {corrects!r}, but {event.agency} has "
            "no accepted event with that id; a correction can only replace your own agency's events",
            _field(("data", "corrects"), "names no event of your agency"),
        )
    if target.indicator is None:
        return Problem(
            "correction-target-unknown",
            f"event {corrects!r} is a {_short(target.type)} event; "
            "only reported indicator values can be corrected",
            _field(("data", "corrects"), "does not name an indicator value"),
        )
    return cap_problem(event.data.value, target.indicator, plans.knowing_indicator(target.indicator))
