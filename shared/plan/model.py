"""The plan as data: units, agencies, indicators, targets and the reporting schedule.

Pure pydantic models, frozen once validated. `Plan` checks that every reference resolves and
builds dictionaries so that services look things up in O(1). Errors carry the location of the
offending entry (`targets[3].agency`) so that the loader can point at the YAML line.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Iterable, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints
from pydantic import ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.plan.periods import Period, PeriodKind, check_cutoff_day, periods_of_year

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Lang = Literal["vi", "en"]
Loc = tuple[str | int, ...]

_UNIT_DEPTH = {"province": 0, "district": 1, "commune": 2}
_FREQUENCY_KIND: dict[str, PeriodKind] = {"monthly": "month", "quarterly": "quarter", "half": "half", "year": "year"}
_KIND_FIELDS = {  # which optional fields each target kind reads
    "absolute": ("value",),
    "baseline_relative": ("baseline_year", "baseline_value", "factor"),
    "ratio": ("factor", "denominator"),
    "milestone": ("value", "due"),
}
_KIND_OPTIONAL = ("value", "baseline_year", "baseline_value", "factor", "denominator", "due")


def _fail(problems: list[tuple[Loc, str]], title: str, missing: Iterable[Loc] = ()) -> None:
    """Raise one ValidationError holding every problem at its own location."""
    details = [InitErrorDetails(type="missing", loc=loc, input=None) for loc in missing]
    details += [
        InitErrorDetails(type=PydanticCustomError("plan", "{message}", {"message": msg}), loc=loc, input=None)
        for loc, msg in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except Exception:
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in the plan file must be an error, not silently ignored
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Named(_Frozen):
    code: Code
    name_vi: str
    name_en: str

    def display_name(self, lang: Lang = "vi") -> str:
        return self.name_vi if lang == "vi" else self.name_en


class Unit(_Frozen):
    """An administrative unit. Validity dates because the 2025 reform removed districts."""

    code: Code
    name: str
    kind: Literal["province", "district", "commune"]
    parent: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    population: int | None = Field(default=None, ge=0)

    def active_on(self, d: date) -> bool:
        started = self.valid_from is None or self.valid_from <= d
        return started and (self.valid_to is None or d <= self.valid_to)


class Leader(_Frozen):
    name: str
    title: str
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    language: Lang = "vi"


class Agency(_Named):
    unit: str
    parent: str | None = None  # the agency alerts escalate to
    leaders: list[Leader] = []
    is_steering_committee: bool = False


class Indicator(_Named):
    unit_vi: str
    unit_en: str
    aggregation: Literal["sum", "latest"]  # flows add up; stocks (people under management) don't
    max_value: float = Field(gt=0)  # a reported value above it is rejected as implausible
    per_population_max: float | None = Field(default=None, gt=0)  # above population * it: warning
    higher_is_better: bool = True

    def unit_label(self, lang: Lang = "vi") -> str:
        return self.unit_vi if lang == "vi" else self.unit_en


class ActivityCount(_Frozen):
    indicator: str
    measure: Literal["count", "participants"]  # one per activity, or its participants


class ActivityType(_Named):
    counts_into: list[ActivityCount] = Field(min_length=1)


class Target(_Frozen):
    agency: str
    indicator: str
    period: str
    kind: Literal["absolute", "baseline_relative", "ratio", "milestone"]
    value: float | None = None
    baseline_year: int | None = None
    baseline_value: float | None = Field(default=None, ge=0)
    factor: float | None = Field(default=None, gt=0)
    denominator: str | None = None  # indicator whose actual the ratio applies to
    due: date | None = None
    pace: Literal["linear", "profile"] = "linear"
    profile: list[float] | None = None  # 12 monthly weights of the baseline year, Jan..Dec
    sample: bool = False  # the figure is an illustrative sample, not taken from the plan text

    @field_validator("period", mode="before")
    @classmethod
    def _canonical_period(cls, v: Any) -> Any:
        # YAML reads `period: 2024` as an int; store the canonical text either way
        return str(Period.parse(v)) if isinstance(v, (str, int)) and not isinstance(v, bool) else v

    @field_validator("profile")
    @classmethod
    def _twelve_weights(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            if len(v) != 12:
                raise ValueError(f"a profile needs 12 monthly weights (Jan..Dec), got {len(v)}")
            if any(w < 0 for w in v) or sum(v) <= 0:
                raise ValueError("profile weights must be non-negative and not all zero")
        return v

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Target:
        needed = _KIND_FIELDS[self.kind]
        missing = [(f,) for f in needed if getattr(self, f) is None]
        problems: list[tuple[Loc, str]] = [
            ((f,), f"not used by {self.kind} targets")
            for f in _KIND_OPTIONAL
            if f not in needed and getattr(self, f) is not None
        ]
        if self.pace == "profile" and self.profile is None:
            missing.append(("profile",))
        if self.pace == "linear" and self.profile is not None:
            problems.append((("profile",), "a profile is only read with pace: profile"))
        _fail(problems, "Target", missing)
        return self

    @property
    def as_period(self) -> Period:
        return Period.parse(self.period)

    def target_value(self, denominator_actual: float | None = None) -> float | None:
        """The figure to reach; a ratio target needs its denominator's actual (None without it)."""
        if self.kind == "baseline_relative":
            return self.baseline_value * self.factor  # type: ignore[operator]
        if self.kind == "ratio":
            if denominator_actual is None:
                return None
            return self.factor * denominator_actual  # type: ignore[operator]
        return self.value

    def expected_fraction(self, as_of: date, cutoff_day: int = 14) -> float:
        """Share of the target expected by the end of `as_of` (a milestone is due at `due`)."""
        profile = self.profile if self.pace == "profile" else None
        return self.as_period.elapsed_fraction(as_of, cutoff_day, profile, until=self.due)


class ReportingRule(_Frozen):
    agency: str
    frequency: Literal["monthly", "quarterly", "half", "year"]
    indicators: list[str] = Field(min_length=1)
    submission_days_after_cutoff: int = Field(ge=0, le=60)

    @property
    def period_kind(self) -> PeriodKind:
        return _FREQUENCY_KIND[self.frequency]


class Thresholds(_Frozen):
    """Status bands on actual / expected: >= on_track is on track, >= at_risk at risk, else lagging."""

    on_track: float = Field(default=0.9, gt=0)
    at_risk: float = Field(default=0.7, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.at_risk >= self.on_track:
            _fail([(("at_risk",), f"must be below on_track ({self.on_track})")], "Thresholds")
        return self


class Plan(_Frozen):
    code: str
    title: str
    year: int = Field(ge=2000, le=2100)
    timezone: Annotated[str, AfterValidator(_known_zone)] = "Asia/Ho_Chi_Minh"
    cutoff_day: Annotated[int, AfterValidator(check_cutoff_day)] = 14
    sample_data_note: str
    units: list[Unit] = Field(min_length=1)
    agencies: list[Agency] = Field(min_length=1)
    indicators: list[Indicator] = Field(min_length=1)
    activity_types: list[ActivityType] = []
    targets: list[Target] = []
    reporting: list[ReportingRule] = []
    thresholds: Thresholds = Thresholds()
    commune_assessment_indicator: str | None = None

    _units: dict[str, Unit] = PrivateAttr(default_factory=dict)
    _agencies: dict[str, Agency] = PrivateAttr(default_factory=dict)
    _indicators: dict[str, Indicator] = PrivateAttr(default_factory=dict)
    _activity_types: dict[str, ActivityType] = PrivateAttr(default_factory=dict)
    _targets: dict[tuple[str, str, str], Target] = PrivateAttr(default_factory=dict)
    _rules: dict[str, ReportingRule] = PrivateAttr(default_factory=dict)
    _ancestors: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    _descendants: dict[str, set[str]] = PrivateAttr(default_factory=dict)
    _committee: Agency | None = PrivateAttr(default=None)
    _reported: dict[str, set[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self) -> Plan:
        problems: list[tuple[Loc, str]] = []
        units, agencies, indicators = (
            self._index("units", self.units, problems),
            self._index("agencies", self.agencies, problems),
            self._index("indicators", self.indicators, problems),
        )
        self._units, self._agencies, self._indicators = units, agencies, indicators
        self._activity_types = self._index("activity_types", self.activity_types, problems)
        target_refs = (
            ("agency", agencies, "agency"),
            ("indicator", indicators, "indicator"),
            ("denominator", indicators, "indicator"),
        )
        refs: list[tuple[Loc, str | None, dict[str, Any], str]] = [
            *((("units", i, "parent"), u.parent, units, "unit") for i, u in enumerate(self.units)),
            *((("agencies", i, "unit"), a.unit, units, "unit") for i, a in enumerate(self.agencies)),
            *((("agencies", i, "parent"), a.parent, agencies, "agency") for i, a in enumerate(self.agencies)),
            *((("activity_types", i, "counts_into", j, "indicator"), c.indicator, indicators, "indicator")
              for i, t in enumerate(self.activity_types) for j, c in enumerate(t.counts_into)),
            *((("reporting", i, "agency"), r.agency, agencies, "agency")
              for i, r in enumerate(self.reporting)),
            *((("reporting", i, "indicators", j), code, indicators, "indicator")
              for i, r in enumerate(self.reporting) for j, code in enumerate(r.indicators)),
            *((("targets", i, f), getattr(t, f), table, what)
              for i, t in enumerate(self.targets) for f, table, what in target_refs),
            (("commune_assessment_indicator",), self.commune_assessment_indicator, indicators, "indicator"),
        ]  # fmt: skip
        for loc, code, table, what in refs:
            if code is not None and code not in table:
                hint = difflib.get_close_matches(code, list(table), n=1)
                guess = f" (did you mean {hint[0]!r}?)" if hint else ""
                problems.append((loc, f"unknown {what} {code!r}{guess}"))

        for i, u in enumerate(self.units):
            parent = units.get(u.parent or "")
            if parent is not None and _UNIT_DEPTH[parent.kind] >= _UNIT_DEPTH[u.kind]:
                message = f"a {u.kind} cannot sit under a {parent.kind} ({u.parent})"
                problems.append((("units", i, "parent"), message))
            if u.valid_from and u.valid_to and u.valid_to < u.valid_from:
                problems.append((("units", i, "valid_to"), "ends before valid_from"))

        committees = [i for i, a in enumerate(self.agencies) if a.is_steering_committee]
        if not committees:
            message = "no agency is the steering committee (is_steering_committee: true)"
            problems.append((("agencies",), message))
        for i in committees[1:]:
            message = f"a second steering committee; {self.agencies[committees[0]].code} is already one"
            problems.append((("agencies", i, "is_steering_committee"), message))
        for i, a in enumerate(self.agencies):
            seen, cur = {a.code}, a.parent
            while cur in agencies:  # escalation must end somewhere
                if cur in seen:
                    problems.append((("agencies", i, "parent"), f"escalation loops back to {cur}"))
                    break
                seen.add(cur)
                cur = agencies[cur].parent

        for i, r in enumerate(self.reporting):
            if r.agency in self._rules:
                problems.append((("reporting", i, "agency"), f"{r.agency} already has a reporting rule"))
            self._rules.setdefault(r.agency, r)
        for i, t in enumerate(self.targets):
            self._check_target(i, t, problems)
        _fail(problems, "Plan")
        self._committee = self.agencies[committees[0]]
        for r in self.reporting:
            self._reported.setdefault(r.agency, set()).update(r.indicators)
        for t in self.targets:
            self._reported.setdefault(t.agency, set()).update(c for c in (t.indicator, t.denominator) if c)
        for u in self.units:  # the hierarchy is now known to be acyclic (kinds nest strictly)
            chain, cur = [], u.parent
            while cur is not None:
                chain.append(cur)
                self._descendants.setdefault(cur, set()).add(u.code)
                cur = units[cur].parent
            self._ancestors[u.code] = chain
        return self

    def _check_target(self, i: int, t: Target, problems: list[tuple[Loc, str]]) -> None:
        loc, period = ("targets", i), t.as_period
        if period.year != self.year:
            problems.append(((*loc, "period"), f"{t.period} is outside the plan year {self.year}"))
        if t.baseline_year is not None and t.baseline_year >= self.year:
            problems.append(((*loc, "baseline_year"), f"must be before the plan year {self.year}"))
        if t.due is not None and not period.contains(t.due, self.cutoff_day):
            start, end = period.window(self.cutoff_day)
            problems.append(((*loc, "due"), f"{t.due} is outside the window of {t.period} ({start}..{end})"))
        if t.denominator == t.indicator:
            problems.append(((*loc, "denominator"), "a ratio cannot be its own denominator"))
        key = (t.agency, t.indicator, t.period)
        if key in self._targets:
            problems.append((loc, f"a second target for {t.agency} / {t.indicator} / {t.period}"))
        self._targets.setdefault(key, t)
        # A target nobody reports on could never be assessed, nor its report be found missing.
        rule = self._rules.get(t.agency)
        if rule is None:
            if t.agency in self._agencies:
                problems.append(((*loc, "agency"), f"{t.agency} has a target but no reporting rule"))
            return
        for field in ("indicator", "denominator"):
            code = getattr(t, field)
            if code in self._indicators and code not in rule.indicators:
                problems.append(((*loc, field), f"{code} is not in {t.agency}'s reporting rule"))
        reported = periods_of_year(self.year, rule.period_kind)
        if period.year == self.year and not any(period.covers(p) for p in reported):
            message = f"{t.period} is finer than {t.agency}'s {rule.frequency} reporting"
            problems.append(((*loc, "period"), message))

    @staticmethod
    def _index(section: str, items: list[Any], problems: list[tuple[Loc, str]]) -> dict[str, Any]:
        table: dict[str, Any] = {}
        for i, item in enumerate(items):
            if item.code in table:
                problems.append(((section, i, "code"), f"duplicate code {item.code!r}"))
            table.setdefault(item.code, item)
        return table

    # -- lookups ------------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def agency(self, code: str) -> Agency:
        return self._agencies[code]

    def indicator(self, code: str) -> Indicator:
        return self._indicators[code]

    def unit(self, code: str) -> Unit:
        return self._units[code]

    def activity_type(self, code: str) -> ActivityType:
        return self._activity_types[code]

    def steering_committee(self) -> Agency:
        assert self._committee is not None  # set by validation
        return self._committee

    def indicators_for(self, agency_code: str) -> set[str]:
        """What the agency reports on: its targets' indicators (and denominators) and its rule's."""
        return set(self._reported.get(agency_code, ()))

    def targets_for(self, agency: str | None = None, period: str | Period | None = None) -> list[Target]:
        wanted = None if period is None else str(Period.parse(str(period)))
        return [t for t in self.targets if agency in (None, t.agency) and wanted in (None, t.period)]

    def target(self, agency: str, indicator: str, period: str | Period) -> Target | None:
        return self._targets.get((agency, indicator, str(Period.parse(str(period)))))

    def unit_ancestors(self, unit_code: str) -> list[str]:
        """Parent first, up to the top of the hierarchy."""
        return list(self._ancestors[unit_code])

    def unit_descendants(self, unit_code: str) -> set[str]:
        self._units[unit_code]  # an unknown unit is a KeyError, not an empty set
        return set(self._descendants.get(unit_code, ()))

    def is_own_unit(self, agency_code: str, unit_code: str) -> bool:
        """The agency's own unit or one below it (an agency reports only for its territory)."""
        home = self._agencies[agency_code].unit
        return unit_code == home or home in self._ancestors.get(unit_code, ())

    def reporting_rule(self, agency_code: str) -> ReportingRule | None:
        return self._rules.get(agency_code)

    def deadline(self, agency_code: str, period: Period) -> datetime:
        """End of the submission day in the plan's zone: window end + the rule's days."""
        rule = self._rules.get(agency_code)
        if rule is None:
            raise LookupError(f"{agency_code} has no reporting rule, hence no deadline")
        day = period.window(self.cutoff_day)[1] + timedelta(days=rule.submission_days_after_cutoff)
        return datetime.combine(day, time.max, tzinfo=self.tz)

    def reporting_periods(self, agency_code: str) -> list[Period]:
        rule = self._rules.get(agency_code)
        return periods_of_year(self.year, rule.period_kind) if rule else []

    def escalation_chain(self, agency_code: str) -> list[Agency]:
        """Parent agency, its parent, ..., ending with the steering committee (empty for it)."""
        committee, cur = self.steering_committee(), self._agencies[agency_code]
        chain: list[Agency] = []
        while cur.code != committee.code and cur.parent is not None:
            cur = self._agencies[cur.parent]
            chain.append(cur)
        if cur.code != committee.code:  # a root agency still answers to the committee
            chain.append(committee)
        return chain if agency_code != committee.code else []
