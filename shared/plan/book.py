"""Every plan loaded: one plan per reporting year, and the one that holds a day or a period.

`plans/` holds one file per plan year. Each plan's reporting year is Decree 09/2019's window (15
Dec of the year before .. 14 Dec, by the plan's cut-off day), so a day belongs to at most one
plan: two plans for one year, or windows that overlap because cut-off days differ, are errors
located at the `year:` line of each file involved. A day or period no plan holds is refused with
the plans that are loaded, so the sender knows whether a plan is missing or the date is wrong.

Both services check and count an event by the plan of its own year (`PlanBook.index_for`): a
report by its period, an activity by its day, an assessment by its year. A lone `PlanIndex`
answers the same questions with itself, so one plan needs no book (`Plans`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Protocol

from shared.plan.index import PlanIndex, Rejected
from shared.plan.loader import PlanError, PlanIssue, load_plan
from shared.plan.model import Plan
from shared.plan.periods import Period

_YEAR_LINE = re.compile(r"^year\s*:", re.MULTILINE)


@dataclass(frozen=True)
class PlanFile:
    path: str
    plan: Plan

    @property
    def window(self) -> tuple[date, date]:
        return Period(self.plan.year, "year", 1).window(self.plan.cutoff_day)

    def year_issue(self, message: str) -> PlanIssue:
        file = Path(self.path)
        text = file.read_text(encoding="utf-8") if file.is_file() else ""
        found = _YEAR_LINE.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else 1
        return PlanIssue(f"{self.path}:{line}:1", "year", message)


class Plans(Protocol):
    """What a service asks of the plans it runs on: a `PlanBook`, or one `PlanIndex`."""

    @property
    def index(self) -> Plans: ...  # itself (a `Plan` model's is its `PlanIndex`)

    def __hash__(self) -> int: ...  # by identity: what is derived from plans is cached by them

    @property
    def indexes(self) -> tuple[PlanIndex, ...]: ...

    @property
    def latest(self) -> PlanIndex: ...

    @property
    def agency_codes(self) -> frozenset[str]: ...

    def index_for(
        self, *, period: str | None = None, day: str | None = None, year: int | None = None
    ) -> PlanIndex: ...

    def knowing_indicator(self, code: str) -> PlanIndex: ...


class PlanBook:
    """The loaded plans by year; `for_day` and `for_period` route to the one that holds them."""

    def __init__(self, files: Sequence[PlanFile]) -> None:
        problems = _conflicts(files)
        if problems:
            raise PlanError(problems)
        if not files:
            raise PlanError([PlanIssue("", "", "no plan is loaded")])
        self.files = sorted(files, key=lambda f: f.plan.year)
        self._by_year = {f.plan.year: f.plan for f in self.files}
        self.indexes = tuple(f.plan.index for f in self.files)
        self.latest = self.indexes[-1]
        self.agency_codes = frozenset().union(*(i.agency_codes for i in self.indexes))
        # one plan checks everything itself, as it always did (and words what lies outside it)
        self._only = self.indexes[0] if len(self.indexes) == 1 else None
        # the same few periods and days come by the million
        self._of_day = lru_cache(maxsize=1024)(self._index_of_day)
        self._of_period = lru_cache(maxsize=256)(self._index_of_period)

    @property
    def index(self) -> PlanBook:
        return self

    @classmethod
    def of(cls, *plans: Plan) -> PlanBook:
        """A book of plans already loaded (tests, tools), none of them from a file."""
        return cls([PlanFile(f"<plan {p.year}>", p) for p in plans])

    def index_for(
        self, *, period: str | None = None, day: str | None = None, year: int | None = None
    ) -> PlanIndex:
        """The index of the plan an event belongs to: by its period, its day (YYYY-MM-DD) or
        the year it assesses. Raises `Rejected` (outside-plan-year, at the field) when no
        loaded plan holds it; a period or day that is not one raises ValueError."""
        if self._only is not None:
            return self._only
        if day is not None:
            return self._of_day(day)
        if period is not None:
            return self._of_period(period)
        if year is not None:
            return self._routed(lambda: self.for_year(year), "year")
        return self.latest

    def _routed(self, find, field: str) -> PlanIndex:
        try:
            return find().index
        except Rejected as refusal:
            raise Rejected(
                refusal.reason,
                refusal.detail,
                ("data", field),
                f"must lie in a loaded plan's reporting year ({', '.join(map(str, self.years))})",
            ) from None

    def _index_of_day(self, day: str) -> PlanIndex:
        return self._routed(lambda: self.for_day(date.fromisoformat(day)), "date")

    def _index_of_period(self, period: str) -> PlanIndex:
        return self._routed(lambda: self.for_period(period), "period")

    def knowing_indicator(self, code: str) -> PlanIndex:
        """The newest plan that has the indicator (a correction's cap), else the newest."""
        return next((i for i in reversed(self.indexes) if i.knows_indicator(code)), self.latest)

    def __iter__(self) -> Iterator[Plan]:
        return iter(self._by_year.values())

    def __len__(self) -> int:
        return len(self._by_year)

    @property
    def years(self) -> list[int]:
        return list(self._by_year)

    def loaded(self) -> str:
        """The plans loaded, for error messages: '2024 (29/KH-BCĐ)'."""
        return ", ".join(f"{f.plan.year} ({f.plan.code})" for f in self.files) or "none"

    def for_year(self, year: int) -> Plan:
        plan = self._by_year.get(year)
        if plan is None:
            raise Rejected(
                "outside-plan-year",
                f"no plan is loaded for the reporting year {year}; plans loaded: {self.loaded()}",
            )
        return plan

    def for_period(self, period: str | Period) -> Plan:
        return self.for_year(Period.parse(period).year if isinstance(period, str) else period.year)

    def for_day(self, day: date) -> Plan:
        for f in self.files:
            first, last = f.window
            if first <= day <= last:
                return f.plan
        raise Rejected(
            "outside-plan-year",
            f"{day.isoformat()} lies in no loaded plan's reporting year; plans loaded: "
            + ", ".join(f"{f.plan.year} ({f.window[0]}..{f.window[1]})" for f in self.files),
        )


def _conflicts(files: Sequence[PlanFile]) -> list[PlanIssue]:
    problems: list[PlanIssue] = []
    ordered = sorted(files, key=lambda f: (f.window[0], f.path))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if a.plan.year == b.plan.year:
                problems += [
                    x.year_issue(f"{other.path} is also the plan for {a.plan.year}: one plan per year")
                    for x, other in ((a, b), (b, a))
                ]
            elif b.window[0] <= a.window[1]:
                problems += [
                    x.year_issue(
                        f"its reporting year {x.window[0]}..{x.window[1]} overlaps {other.path}'s "
                        f"({other.window[0]}..{other.window[1]}): the cut-off days differ"
                    )
                    for x, other in ((a, b), (b, a))
                ]
    years = {f.plan.year for f in files}
    for f in files:
        unloaded: dict[tuple[str, int], list[str]] = {}  # (rule or target, year) -> agencies
        for t in f.plan.targets:
            if t.recorded_baseline and t.baseline_year not in years:
                where = (
                    f"target_rules {t.rule}" if t.rule else f"targets {t.agency} × {t.indicator} × {t.period}"
                )
                unloaded.setdefault((where, t.baseline_year or 0), []).append(t.agency)
        problems += [
            PlanIssue(
                f.path,
                where,
                f"a baseline recorded in {year} (for {', '.join(agencies)}) needs the {year} plan loaded "
                f"beside this one; plans loaded: {', '.join(map(str, sorted(years)))}",
            )
            for (where, year), agencies in unloaded.items()
        ]
    zones = {f.plan.timezone for f in files}
    if len(zones) > 1:
        problems += [
            PlanIssue(
                f.path, "timezone", f"{f.plan.timezone}: the plans disagree ({', '.join(sorted(zones))})"
            )
            for f in files
        ]
    return problems


def plan_files(path: str | PathLike[str]) -> list[Path]:
    """A plan file, or every `*.yaml` of a folder, in name order."""
    p = Path(path)
    if p.is_dir():
        found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        if not found:
            raise PlanError([PlanIssue(str(p), "", "the folder holds no plan (*.yaml)")])
        return found
    return [p]


def load_plans(path: str | PathLike[str]) -> PlanBook:
    """Load a plan file or a folder of them; every file's problems are reported together."""
    files: list[PlanFile] = []
    problems: list[PlanIssue] = []
    for file in plan_files(path):
        try:
            files.append(PlanFile(str(file), load_plan(file)))
        except PlanError as err:
            problems += err.errors
    if problems:
        raise PlanError(problems)
    return PlanBook(files)
