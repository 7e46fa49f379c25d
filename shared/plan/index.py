"""The plan's rules for events, in one place: what intake accepts is what the aggregator counts.

`PlanIndex` is built once from a loaded `Plan` (`plan.index`): plain dicts and sets, because both
services look the plan up several times per event (pydantic's private attributes cost a few
microseconds each). Every check raises `Rejected` with the reason intake answers with (its
Problem vocabulary), a detail for people and the JSON pointer of the offending field; intake
words its 4xx from it, the aggregator dead-letters with it. The checks of one combination
(agency × indicator × period × unit, agency × activity × unit) are remembered once passed: a
plan accepts few of them, the events come by the million.

Anything not precomputed here is read from the plan itself (`__getattr__`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.plan.periods import Period

if TYPE_CHECKING:  # the model builds its index: a runtime import would be circular
    from shared.plan.model import Plan

#: how long before the plan year's first data window an event's `time` may lie (docs/events.md)
PAST_TOLERANCE = timedelta(days=31)


class Rejected(ValueError):
    """The plan does not accept the event. `reason` is intake's Problem reason, `where` the JSON
    pointer's parts, `field` a short text for that field."""

    def __init__(self, reason: str, detail: str, where: tuple[str, ...] = (), field: str = "") -> None:
        super().__init__(detail)
        self.reason, self.detail, self.where, self.field = reason, detail, where, field or detail


def _day_text(d: date) -> str:
    return f"{d.day} {d:%b} {d.year}"


class PlanIndex:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.year, self.cutoff_day, self.tz = plan.year, plan.cutoff_day, plan.tz
        self.thresholds = plan.thresholds
        self.commune_assessment_indicator = plan.commune_assessment_indicator
        self.targets, self.activity_types = plan.targets, plan.activity_types
        self.agency_codes = frozenset(a.code for a in plan.agencies)
        self._agencies = {a.code: a for a in plan.agencies}
        self._indicators = {i.code: i for i in plan.indicators}
        self._units = {u.code: u for u in plan.units}
        self._activities = {a.code: a for a in plan.activity_types}
        self._ancestors = {u.code: plan.unit_ancestors(u.code) for u in plan.units}
        self._own = {a.code: frozenset({a.unit, *plan.unit_descendants(a.unit)}) for a in plan.agencies}
        self._mine = {a: frozenset(plan.indicators_for(a)) for a in self.agency_codes}
        self._population = {u.code: u.population for u in plan.units}
        self._spans = {u.code: (u.valid_from, u.valid_to) for u in plan.units if u.valid_from or u.valid_to}
        self._agency_spans = {a: plan.agency_span(a) for a in self.agency_codes if any(plan.agency_span(a))}
        self._month_reported: set[tuple[str, str]] = set()  # (agency, activity day) in a period it reports
        self._targets_by_agency: dict[str, list] = {}
        for t in plan.targets:
            self._targets_by_agency.setdefault(t.agency, []).append(t)
        # the reporting year (Decree 09/2019): 15 Dec of the year before .. 14 Dec, by the cut-off day
        self.first_day, self.last_day = Period(plan.year, "year", 1).window(plan.cutoff_day)
        self._first_iso, self._last_iso = self.first_day.isoformat(), self.last_day.isoformat()
        self.earliest = datetime.combine(self.first_day, time.min, tzinfo=self.tz) - PAST_TOLERANCE
        # where each figure comes from (docs/plan.md): an agency's activities count only into these
        self._from_activities = {r.agency: frozenset(r.from_activities) for r in plan.reporting}
        self._counted_by = {a.code: tuple(c.indicator for c in a.counts_into) for a in plan.activity_types}
        self.milestone_months: dict[str, set[str]] = {}  # indicator -> months a milestone falls due in
        for t in plan.targets:  # every version's due day: an amendment may move a milestone
            for _, version in plan.target_versions(t.agency, t.indicator, t.period):
                if version.due is not None:
                    self.milestone_months.setdefault(t.indicator, set()).add(
                        str(Period.containing(version.due, "month", plan.cutoff_day))
                    )
        self._reports: dict[tuple, float] = {}
        self._activities_ok: set[tuple] = set()
        self.activity_sums = lru_cache(maxsize=4096)(self._activity_sums)
        # pure functions of the plan that every evaluation asks for, per agency and period
        self.deadline = lru_cache(maxsize=4096)(plan.deadline)
        self._targets_on = lru_cache(maxsize=4096)(lambda day, agency: plan.targets_on(day, agency))
        self.reporting_periods = lru_cache(maxsize=1024)(lambda agency: tuple(plan.reporting_periods(agency)))

    @property
    def index(self) -> PlanIndex:
        return self

    # -- one plan as the book of itself (`shared.plan.book.Plans`) --------------------------------

    @property
    def indexes(self) -> tuple[PlanIndex, ...]:
        return (self,)

    @property
    def latest(self) -> PlanIndex:
        return self

    def index_for(
        self, *, period: str | None = None, day: str | None = None, year: int | None = None
    ) -> PlanIndex:
        return self  # its own checks word whatever lies outside its year

    def knowing_indicator(self, code: str) -> PlanIndex:
        return self

    def __getattr__(self, name: str) -> Any:  # only reached for what is not precomputed
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.plan, name)

    # -- lookups ------------------------------------------------------------------------------

    def agency(self, code: str):
        return self._agencies[code]

    def indicator(self, code: str):
        return self._indicators[code]

    def unit(self, code: str):
        return self._units[code]

    def activity_type(self, code: str):
        return self._activities[code]

    def unit_ancestors(self, code: str) -> list[str]:
        return self._ancestors[code]

    def is_own_unit(self, agency: str, unit: str) -> bool:
        return unit in self._own[agency]

    def knows_unit(self, unit: str) -> bool:
        return unit in self._units

    def knows_indicator(self, code: str) -> bool:
        return code in self._indicators

    def indicators_of(self, agency: str) -> frozenset[str]:
        return self._mine.get(agency, frozenset())

    def population(self, agency: str, unit: str | None) -> int | None:
        home = self._agencies.get(agency)
        return self._population.get(unit or (home.unit if home else ""))

    def targets_on(self, day: date, agency: str) -> list:
        """The agency's targets in force on a day (amended ones from their amendment's day on)."""
        if not self.plan.amendments:
            return self._targets_by_agency.get(agency, [])
        return self._targets_on(day, agency)

    def targets_for(self, agency: str | None = None, period: Any = None) -> list:
        if period is None and agency is not None:
            return list(self._targets_by_agency.get(agency, ()))
        return self.plan.targets_for(agency=agency, period=period)

    def _activity_sums(self, activity: str, day: str) -> tuple[tuple, tuple[str, ...]]:
        """What an activity of this type on this day counts into: the `((indicator, month), by
        participants)` sums (none outside the plan year) and the indicators. In the month a
        milestone of the indicator falls due in, the day's own sum too, `(indicator, day)`, so the
        work done by the due date can be told apart (`AgencyLedger.actual_until`). Few types x 366
        days."""
        on = date.fromisoformat(day)
        month = Period.containing(on, "month", self.cutoff_day)
        counts = self._activities[activity].counts_into
        if month.year != self.year:
            return (), tuple(c.indicator for c in counts)
        sums = [((c.indicator, str(month)), c.measure != "count") for c in counts]
        sums += [
            ((c.indicator, day), c.measure != "count")
            for c in counts
            if str(month) in self.milestone_months.get(c.indicator, ())
        ]
        return tuple(sums), tuple(c.indicator for c in counts)

    def figure_source(self, agency: str, indicator: str) -> str | None:
        """`activities` or `reported`: which kind of event makes the agency's figure of the
        indicator (None for an indicator not on its reporting rule)."""
        if indicator not in self.indicators_of(agency):
            return None
        return "activities" if indicator in self._from_activities.get(agency, ()) else "reported"

    # -- the rules ----------------------------------------------------------------------------

    def check_agency(self, agency: str) -> None:
        if agency not in self.agency_codes:
            raise Rejected(
                "source-mismatch",
                f"unknown agency {agency!r}: source /agencies/{agency} is not an agency of the plan",
                ("source",),
                "is not an agency of the plan",
            )

    def check_unit_owned(self, agency: str, unit: str | None) -> None:
        """Authorization: a unit of the plan must be the agency's own or below it (an unknown one
        is `check_unit`'s)."""
        if unit is not None and unit in self._units and unit not in self._own.get(agency, ()):
            raise Rejected(
                "foreign-unit",
                f"unit {unit!r} is not {agency} or one of its subordinate units",
                ("data", "unit_code"),
                "is not one of your units",
            )

    def check_unit_in_force(self, unit: str | None, first: date, last: date) -> None:
        """A unit of the plan is in force on some day of `first`..`last` (an event's day or its
        period's window): one abolished before, or set up after, is refused naming who took over."""
        if unit is None or unit not in self._spans:
            return
        start, end = self._spans[unit]
        if (start is None or start <= last) and (end is None or first <= end):
            return
        found = self._units[unit]
        if end is not None and end < first:
            heirs = self.plan.successors_on(unit, first)
            names = ", ".join(f"{c} ({self._units[c].name})" for c in heirs)
            detail = f"unit {unit} ({found.name}) ended on {end}" + (
                f"; from {end + timedelta(days=1)} its territory belongs to {names}: report for it"
                if heirs
                else ""
            )
            field = f"ended on {end}" + (f"; use {', '.join(heirs)}" if heirs else "")
        else:
            detail = f"unit {unit} ({found.name}) is in force only from {start}"
            field = f"is in force only from {start}"
        raise Rejected("unit-not-in-force", detail, ("data", "unit_code"), field)

    def check_agency_in_force(self, agency: str, period: Period) -> None:
        """The agency makes this period's report (`Plan.agency_reports`): one closed by the period's
        cut-off is refused naming who holds its work, one not yet set up naming when it starts."""
        if agency not in self._agency_spans or self.plan.agency_reports(agency, period):
            return
        start, end = self._agency_spans[agency]
        last = period.window(self.cutoff_day)[1]
        found = self._agencies[agency]
        if end is not None and end < last:
            heirs = self.plan.agency_successors_on(agency, last)
            names = ", ".join(f"{c} ({self._agencies[c].name_en})" for c in heirs)
            detail = (
                f"{agency} ({found.name_en}) ended on {end}; the report of {period} (its window ends on {last}) "
                + (
                    f"is made by {names}, which took over its work"
                    if heirs
                    else "has no successor in the plan"
                )
            )
            field = f"ended on {end}" + (f"; {period} is reported by {', '.join(heirs)}" if heirs else "")
        else:
            detail = (
                f"{agency} ({found.name_en}) is in force only from {start}: it reports the periods whose "
                f"window ends from then on, and {period}'s ends on {last}"
            )
            field = f"is in force only from {start}"
        raise Rejected("agency-not-in-force", detail, ("source",), field)

    def check_unit(self, agency: str, unit: str | None) -> None:
        if unit is None:
            return
        if unit not in self._units:
            raise Rejected(
                "unknown-unit",
                f"unknown unit {unit!r}: it is not in the plan",
                ("data", "unit_code"),
                "is unknown",
            )
        self.check_unit_owned(agency, unit)

    def check_assigned(self, agency: str, indicator: str | None, where: tuple[str, ...]) -> None:
        """Authorization: a known indicator must be one the plan assigns to the agency."""
        if (
            indicator is not None
            and indicator in self._indicators
            and indicator not in self.indicators_of(agency)
        ):
            mine = ", ".join(sorted(self.indicators_of(agency))) or "none"
            raise Rejected(
                "indicator-not-assigned",
                f"the plan does not assign indicator {indicator!r} to {agency}; yours are: {mine}",
                where,
                "is not assigned to your agency",
            )

    def check_period(self, text: str) -> Period:
        return _period_in(text, self.year, self.plan.code)

    def report_limit(self, agency: str, indicator: str, period: str, unit: str | None) -> float:
        """An `indicator.reported` of this combination is allowed; its value's cap."""
        key = (agency, indicator, period, unit)
        try:
            return self._reports[key]
        except KeyError:
            pass
        self.check_agency(agency)
        self.check_unit(agency, unit)
        checked = self.check_period(period)
        self.check_agency_in_force(agency, checked)
        self.check_unit_in_force(unit, *checked.window(self.cutoff_day))
        found = self._indicators.get(indicator)
        if found is None:
            mine = ", ".join(sorted(self.indicators_of(agency))) or "none"
            raise Rejected(
                "unknown-indicator",
                f"unknown indicator {indicator!r}: it is not in the plan; yours are: {mine}",
                ("data", "indicator"),
                "is unknown",
            )
        self.check_assigned(agency, indicator, ("data", "indicator"))
        limit = self._reports[key] = found.max_value
        return limit

    def over_cap(self, value: float, indicator: str) -> Rejected:
        """The refusal of a value above the indicator's cap (the caller compares: the hot path)."""
        found = self._indicators[indicator]
        return Rejected(
            "value-above-cap",
            f"value {value:g} exceeds the plan's cap of {found.max_value:g} (the "
            f"maximum for {indicator}); check the figure (and its unit: {found.unit_en})",
            ("data", "value"),
            f"must be at most {found.max_value:g}",
        )

    def check_activity(self, agency: str, activity: str, unit: str | None) -> None:
        """An `activity.recorded` of this type may be sent by this agency for this unit."""
        key = (agency, activity, unit)
        if key in self._activities_ok:
            return
        self.check_agency(agency)
        if activity not in self._activities:
            known = ", ".join(sorted(self._activities)) or "none"
            raise Rejected(
                "unknown-activity",
                f"unknown activity type {activity!r}: it is not in the plan; known: {known}",
                ("data", "activity"),
                "is unknown",
            )
        self.check_unit(agency, unit)
        self._activities_ok.add(key)

    def check_activity_day(self, day: str, unit: str | None = None, agency: str | None = None) -> None:
        """The day (YYYY-MM-DD) lies in the plan's reporting year, else it would be counted nowhere,
        the activity's unit is in force on it, and the agency reports the month it counts into."""
        if not self._first_iso <= day <= self._last_iso:
            self._outside_year(date.fromisoformat(day))
        if agency in self._agency_spans and (agency, day) not in self._month_reported:
            month = Period.containing(date.fromisoformat(day), "month", self.cutoff_day)
            self.check_agency_in_force(agency, month)
            self._month_reported.add((agency, day))
        if unit is not None and unit in self._spans:
            on = date.fromisoformat(day)
            self.check_unit_in_force(unit, on, on)

    def _outside_year(self, day: date) -> None:
        year = Period.containing(day, "year", self.cutoff_day).year
        start, end = Period(year, "year", 1).window(self.cutoff_day)
        raise Rejected(
            "outside-plan-year",
            (
                f"activity date {day} belongs to the {year} reporting year ({_day_text(start)} – {_day_text(end)}; "
                f"monthly windows end on day {self.cutoff_day}, Decree 09/2019/NĐ-CP), not to the plan's {self.year} "
                f"({_day_text(self.first_day)} – {_day_text(self.last_day)})"
                + (f"; no plan for {year} is loaded yet" if year > self.year else "")
            ),
            ("data", "date"),
            f"must lie in the {self.year} reporting year ({self.first_day}..{self.last_day})",
        )

    def check_figure_source(
        self, agency: str, *, indicator: str | None = None, activity: str | None = None
    ) -> None:
        """One kind of event per figure: a reported value of a figure the plan counts from the
        agency's activities, or an activity counting into a figure it reports, would count the
        same work twice. (Intake's rule: the aggregator counts what intake let through.)"""
        if indicator is not None and self.figure_source(agency, indicator) == "activities":
            raise Rejected(
                "wrong-figure-source",
                (
                    f"the plan counts {agency}'s {indicator} from its recorded activities (activity.recorded); "
                    f"a reported value would count the same work twice: record each activity instead"
                ),
                ("data", "indicator"),
                "is counted from your activities, not reported",
            )
        if activity is not None:
            reported = [
                c for c in self._counted_by.get(activity, ()) if self.figure_source(agency, c) == "reported"
            ]
            if reported:
                raise Rejected(
                    "wrong-figure-source",
                    (
                        f"a {activity} counts into {', '.join(reported)}, which the plan takes from {agency}'s reported "
                        f"values (indicator.reported); recording it too would count the same work twice: include it "
                        f"in your reported figure instead"
                    ),
                    ("data", "activity"),
                    "counts into a figure you report",
                )

    def check_assessment(self, agency: str, unit: str, year: int) -> None:
        self.check_agency(agency)
        self.check_unit(agency, unit)
        if year != self.year:
            raise Rejected(
                "outside-plan-year",
                f"the plan covers {self.year}; this assessment is for {year}",
                ("data", "year"),
                f"must be {self.year}",
            )
        self.check_agency_in_force(agency, Period(year, "year", 1))
        self.check_unit_in_force(unit, self.first_day, self.last_day)

    def check_submission(self, agency: str, period: str) -> None:
        self.check_agency(agency)
        self.check_agency_in_force(agency, self.check_period(period))


@lru_cache(maxsize=4096)  # a plan year has 19 periods; agencies send the same few all the time
def _period_in(text: str, year: int, code: str) -> Period:
    """A period of the plan year. One not written as the contract writes it (`2024-06`, not
    `2024-6`) is not the contract's event at all: ValueError, not a rule of the plan."""
    period = Period.parse(text)
    if type(text) is not str or str(period) != text:
        raise ValueError(f"period {text!r} is not in canonical form")
    if period.year != year:
        raise Rejected(
            "outside-plan-year",
            f"period {text} is outside the plan year {year}; plans loaded: {year} ({code})"
            + (f"; no plan for {period.year} is loaded yet" if period.year > year else ""),
            ("data", "period"),
            f"must lie in {year}",
        )
    return period


def plan_index(plan: Plan) -> PlanIndex:
    """The index of a plan (or the index itself)."""
    return plan.index
