"""The entries of a plan: units, agencies, leaders, indicators, activity types, targets,
reporting rules and thresholds. Each checks itself; `Plan` (model.py) checks that they refer
to each other correctly.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.plan.periods import Period, PeriodKind

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Lang = Literal["vi", "en"]
Loc = tuple[str | int, ...]

UNIT_DEPTH = {"province": 0, "district": 1, "commune": 2}
_FREQUENCY_KIND: dict[str, PeriodKind] = {
    "monthly": "month",
    "quarterly": "quarter",
    "half": "half",
    "year": "year",
}
_KIND_FIELDS = {  # which optional fields each target kind reads
    "absolute": ("value",),
    "baseline_relative": ("baseline_year", "baseline_value", "factor"),
    "ratio": ("factor", "denominator"),
    "milestone": ("value", "due"),
}
_KIND_OPTIONAL = ("value", "baseline_year", "baseline_value", "factor", "denominator", "due", "floor")
_KIND_MAY = {"baseline_relative": ("floor",)}  # optional fields a kind reads when given
Pace = Literal["linear", "profile", "step", "at_end"]
_EPSILON = 1e-9  # 20 × 1.05 is 21.000000000000004: not a reason to ask for 22


def fail_with(problems: list[tuple[Loc, str]], title: str, missing: Iterable[Loc] = ()) -> None:
    """Raise one ValidationError holding every problem at its own location."""
    details = [InitErrorDetails(type="missing", loc=loc, input=None) for loc in missing]
    details += [
        InitErrorDetails(type=PydanticCustomError("plan", "{message}", {"message": msg}), loc=loc, input=None)
        for loc, msg in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def unknown_ref(what: str, code: str, table: Iterable[str]) -> str:
    """`unknown agency 'POLICE' (did you mean 'POL'?)`: the text of every dangling reference."""
    hint = difflib.get_close_matches(code, list(table), n=1)
    return f"unknown {what} {code!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")


def known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except Exception:
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


Renames = tuple[tuple[date, str, str], ...]  # (from the day, name_vi, name_en), oldest first


def name_on(vi: str, en: str, renamed: Renames, on: date | None) -> tuple[str, str]:
    """The names (vi, en) in force on a day after the renames (`on` None: after all of them)."""
    for since, new_vi, new_en in renamed:
        if on is None or since <= on:
            vi, en = new_vi, new_en
    return vi, en


class Frozen(BaseModel):
    # extra="forbid": a misspelt key in the plan file must be an error, not silently ignored
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Named(Frozen):
    code: Code
    name_vi: str
    name_en: str
    _renamed: Renames = PrivateAttr(default=())  # by the plan's amendments (`Plan` sets them)

    @property
    def renamed(self) -> Renames:
        return self._renamed

    def display_name(self, lang: Lang = "vi", on: date | None = None) -> str:
        """Its name on a day (`on`), or as it is after every rename (None)."""
        vi, en = name_on(self.name_vi, self.name_en, self._renamed, on)
        return vi if lang == "vi" else en


class Unit(Frozen):
    """An administrative unit. Validity dates because the 2025 reform removed districts."""

    code: Code
    name: str
    kind: Literal["province", "district", "commune"]
    parent: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    # the units that take over its territory from the day after `valid_to` (a merger: one; a split: several)
    successors: list[str] = []
    population: int | None = Field(default=None, ge=0)
    amendment: str | None = None  # the amendment that brought it in (then valid_from is its day)
    _renamed: Renames = PrivateAttr(default=())  # by the plan's amendments (name twice)

    @property
    def renamed(self) -> Renames:
        return self._renamed

    def name_on(self, on: date | None = None) -> str:
        """Its name on a day (`on`), or as it is after every rename (None)."""
        return name_on(self.name, self.name, self._renamed, on)[0]

    def active_on(self, d: date) -> bool:
        started = self.valid_from is None or self.valid_from <= d
        return started and (self.valid_to is None or d <= self.valid_to)


class Leader(Frozen):
    name: str
    title: str
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    language: Lang = "vi"


class AgencyKind(_Named):
    """What sort of agency it is (commune_committee, district_police ...): what target rules select."""


class Predecessor(Frozen):
    """An agency whose work this one took over, and how much of it (a split shares it out)."""

    agency: str
    share: float = Field(default=1.0, gt=0, le=1)


class Agency(_Named):
    unit: str
    kind: str | None = None  # one of the plan's agency_kinds; an agency without one is in no rule
    parent: str | None = None  # the agency alerts escalate to
    leaders: list[Leader] = []
    is_steering_committee: bool = False
    # in force from/to (None: open); an agency of an abolished unit says so, with its successors
    valid_from: date | None = None
    valid_to: date | None = None
    # the agencies whose work it takes over from the day after theirs ends (docs/plan.md)
    predecessors: list[Predecessor] = []
    amendment: str | None = None  # the amendment that brought it in (then valid_from is its day)

    @field_validator("predecessors", mode="before")
    @classmethod
    def _codes_or_shares(cls, v: Any) -> Any:
        # `predecessors: [UBND-A]` is a whole takeover; `{agency: UBND-A, share: 0.4}` a part of a split
        return [{"agency": p} if isinstance(p, str) else p for p in v] if isinstance(v, list) else v


class Indicator(_Named):
    unit_vi: str
    unit_en: str
    aggregation: Literal["sum", "latest"]  # flows add up; stocks (people under management) don't
    max_value: float = Field(gt=0)  # a reported value above it is rejected as implausible
    per_population_max: float | None = Field(default=None, gt=0)  # above population * it: warning
    higher_is_better: bool = True
    # count: whole things (cases, sessions): whole-number targets, judged in whole units;
    # measure: quantities (grams) that keep their decimals
    kind: Literal["count", "measure"] = "count"

    @property
    def default_pace(self) -> Pace:
        return "step" if self.kind == "count" else "linear"

    def whole(self, target: float) -> float:
        """A count's target is a whole number, rounded up (105 % of 47 cases is 50)."""
        return float(math.ceil(target - _EPSILON)) if self.kind == "count" else target

    def unit_label(self, lang: Lang = "vi") -> str:
        return self.unit_vi if lang == "vi" else self.unit_en


class ActivityCount(Frozen):
    indicator: str
    measure: Literal["count", "participants"]  # one per activity, or its participants


class ActivityType(_Named):
    counts_into: list[ActivityCount] = Field(min_length=1)


class Target(Frozen):
    agency: str
    indicator: str
    period: str
    kind: Literal["absolute", "baseline_relative", "ratio", "milestone"]
    value: float | None = None
    baseline_year: int | None = None
    # a number, or `recorded`: the agency's own figure of `baseline_year` as Tiendo recorded it
    # (services/aggregator/domain/baselines.py), which needs that year's plan loaded beside this one
    baseline_value: float | Literal["recorded"] | None = None
    factor: float | None = Field(default=None, gt=0)
    denominator: str | None = None  # indicator whose actual the ratio applies to
    due: date | None = None
    floor: float | None = Field(default=None, gt=0)  # baseline_relative: the least to reach
    pace: Pace | None = None  # None: the indicator's default (`Indicator.default_pace`)
    profile: list[float] | None = None  # 12 monthly weights of the baseline year, Jan..Dec
    sample: bool = False  # the figure is an illustrative sample, not taken from the plan text
    rule: str | None = None  # the target rule that made it (shared/plan/rules.py); None: a row of its own
    amendment: str | None = None  # the amendment that set it (shared/plan/amendments.py); None: the plan's

    @field_validator("period", mode="before")
    @classmethod
    def _canonical_period(cls, v: Any) -> Any:
        # YAML reads `period: 2024` as an int; store the canonical text either way
        return str(Period.parse(v)) if isinstance(v, (str, int)) and not isinstance(v, bool) else v

    @field_validator("baseline_value", mode="before")
    @classmethod
    def _number_or_recorded(cls, v: Any) -> Any:
        # one message per mistake (a union would word both of its branches)
        if isinstance(v, str) and v != "recorded":
            raise ValueError(f"{v!r} is neither a number nor `recorded` (the figure Tiendo recorded)")
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise ValueError("Input should be greater than or equal to 0")
        return v

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
            if f not in needed and f not in _KIND_MAY.get(self.kind, ()) and getattr(self, f) is not None
        ]
        if self.pace == "profile" and self.profile is None:
            missing.append(("profile",))
        if self.pace != "profile" and self.profile is not None:
            problems.append((("profile",), "a profile is only read with pace: profile"))
        if (
            self.recorded_baseline
            and self.baseline_year is not None
            and self.baseline_year >= self.as_period.year
        ):
            problems.append(
                (
                    ("baseline_year",),
                    f"a recorded baseline is a figure of an earlier year than {self.as_period.year}",
                )
            )
        if self.kind == "baseline_relative" and self.baseline_value == 0 and self.floor is None:
            # 0 × 1.05 is 0: the target would be achieved with nothing done
            problems.append(
                (
                    ("baseline_value",),
                    "a baseline of 0 makes a target of 0; state the least to reach with `floor:`",
                )
            )
        fail_with(problems, "Target", missing)
        return self

    @property
    def as_period(self) -> Period:
        return Period.parse(self.period)

    @property
    def recorded_baseline(self) -> bool:
        """The baseline is the agency's figure Tiendo recorded for `baseline_year`, not a number."""
        return self.baseline_value == "recorded"

    def target_value(
        self, denominator_actual: float | None = None, baseline: float | None = None
    ) -> float | None:
        """The figure to reach; a ratio target needs its denominator's actual, a recorded baseline
        the figure of its year (None without them)."""
        if self.kind == "baseline_relative":
            base = baseline if self.baseline_value == "recorded" else self.baseline_value
            if base is None:
                return None
            return max(base * self.factor, self.floor or 0.0)  # type: ignore[operator]
        if self.kind == "ratio":
            if denominator_actual is None:
                return None
            return self.factor * denominator_actual  # type: ignore[operator]
        return self.value

    def expected_fraction(self, as_of: date, cutoff_day: int) -> float:
        """Share of the target expected by the end of `as_of` (a milestone is due at `due`)."""
        if self.pace == "at_end":  # judged only once the span is over
            return 1.0 if as_of >= self.span(cutoff_day)[1] else 0.0
        profile = self.profile if self.pace == "profile" else None
        return self.as_period.elapsed_fraction(as_of, cutoff_day, profile, until=self.due)

    def span(self, cutoff_day: int) -> tuple[date, date]:
        """The days the work is spread over: the period's window, up to `due` for a milestone."""
        start, end = self.as_period.window(cutoff_day)
        return start, self.due or end

    def pace_for(self, indicator: Indicator) -> Pace:
        return self.pace or indicator.default_pace

    def expected(self, goal: float, fraction: float, indicator: Indicator) -> float:
        """The figure expected by now. Whole units for a count under a stepped pace: the k-th of
        n is due once k/n of the span has passed (`floor`), so 1 session in a quarter is expected
        only at the quarter's end, and 2 inspections in a half-year one at a time."""
        pace = self.pace_for(indicator)
        if pace == "step" or (pace == "profile" and indicator.kind == "count"):
            return float(math.floor(goal * fraction + _EPSILON))
        return goal * fraction


class ReportingRule(Frozen):
    agency: str
    frequency: Literal["monthly", "quarterly", "half", "year"]
    indicators: list[str] = Field(min_length=1)
    submission_days_after_cutoff: int = Field(ge=0, le=60)
    # indicators of the rule whose figure is counted from the agency's `activity.recorded` events;
    # every other one comes from its `indicator.reported` values. One kind per figure: both would
    # count the same session twice (intake refuses the other kind)
    from_activities: list[str] = []

    @property
    def period_kind(self) -> PeriodKind:
        return _FREQUENCY_KIND[self.frequency]


class Thresholds(Frozen):
    """Status bands on actual / expected: >= on_track is on track, >= at_risk at risk, else lagging."""

    on_track: float = Field(default=0.9, gt=0)
    at_risk: float = Field(default=0.7, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.at_risk >= self.on_track:
            fail_with([(("at_risk",), f"must be below on_track ({self.on_track})")], "Thresholds")
        return self
