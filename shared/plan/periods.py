"""Reporting periods and their data windows (Decree 09/2019/NĐ-CP).

A report "for June" does not cover 1–30 June: it covers the data from the 15th of May to the
14th of June, so that figures can be compiled and sent up a few days after the cut-off. The
quarter, the half-year and the year are unions of consecutive monthly windows; the year 2024
therefore starts on 15 Dec 2023. The cut-off day is a plan setting (`Plan.cutoff_day`): every
function here takes it from the caller, so the plan stays its one source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["year", "half", "quarter", "month"]

#: how many months each kind spans, and how many of it a year holds
MONTHS_PER: dict[str, int] = {"year": 12, "half": 6, "quarter": 3, "month": 1}
_COUNT_PER_YEAR = {kind: 12 // months for kind, months in MONTHS_PER.items()}

ACCEPTED_FORMS = "YYYY, YYYY-H1..H2, YYYY-Q1..Q4 or YYYY-MM (e.g. 2024, 2024-H1, 2024-Q2, 2024-06)"
_PATTERN = re.compile(r"^(\d{4})(?:-(?:H([12])|Q([1-4])|(0[1-9]|1[0-2])))?$", re.IGNORECASE)

_ROMAN = ("I", "II", "III", "IV")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip


def check_cutoff_day(cutoff_day: int) -> int:
    # The day after the cut-off must exist in every month (February included).
    if not 1 <= cutoff_day <= 27:
        raise ValueError(f"cutoff_day must be between 1 and 27, got {cutoff_day}")
    return cutoff_day


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period of a plan year: the year itself, a half, a quarter or a month.

    Ordering is only a stable total order (year, then kind name, then index), handy for sorting.
    """

    year: int
    kind: PeriodKind
    index: int

    def __post_init__(self) -> None:
        if self.kind not in MONTHS_PER:
            raise ValueError(f"unknown period kind {self.kind!r}; use year, half, quarter or month")
        if not 1 <= self.index <= _COUNT_PER_YEAR[self.kind]:
            raise ValueError(f"a {self.kind} index must be 1..{_COUNT_PER_YEAR[self.kind]}, got {self.index}")
        # Four digits, and the year before exists too: a January window starts in December.
        if not 1000 <= self.year <= 9998:
            raise ValueError(f"year out of range: {self.year} (expected 1000..9998)")

    # -- text ---------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | int) -> Period:
        """'2024' | '2024-H1' | '2024-Q2' | '2024-06' (an int year, as YAML gives it, is fine)."""
        match = _PATTERN.match(str(text).strip())
        if match is None:
            raise ValueError(f"invalid period {str(text)!r}: expected {ACCEPTED_FORMS}")
        year, half, quarter, month = match.groups()
        if half:
            return cls(int(year), "half", int(half))
        if quarter:
            return cls(int(year), "quarter", int(quarter))
        if month:
            return cls(int(year), "month", int(month))
        return cls(int(year), "year", 1)

    def __str__(self) -> str:
        suffix = {"year": "", "half": f"-H{self.index}", "quarter": f"-Q{self.index}",
                  "month": f"-{self.index:02d}"}[self.kind]  # fmt: skip
        return f"{self.year:04d}{suffix}"

    def label(self, lang: Literal["vi", "en"] = "vi") -> str:
        """The name leaders read: 'Quý II/2024' / 'Q2 2024'."""
        y, i = self.year, self.index
        if self.kind == "year":
            return f"Năm {y}" if lang == "vi" else f"Year {y}"
        if self.kind == "half":
            return f"6 tháng {'đầu' if i == 1 else 'cuối'} năm {y}" if lang == "vi" else f"H{i} {y}"
        if self.kind == "quarter":
            return f"Quý {_ROMAN[i - 1]}/{y}" if lang == "vi" else f"Q{i} {y}"
        return f"Tháng {i}/{y}" if lang == "vi" else f"{_MONTHS_EN[i - 1]} {y}"

    # -- structure ----------------------------------------------------------------------------

    def months(self) -> list[Period]:
        """The reporting months this period is made of (a month is made of itself)."""
        span = MONTHS_PER[self.kind]
        first = (self.index - 1) * span + 1
        return [Period(self.year, "month", m) for m in range(first, first + span)]

    def covers(self, other: Period) -> bool:
        """True when `other` lies inside this period (a period covers itself)."""
        return other.year == self.year and all(m in self.months() for m in other.months())

    @classmethod
    def containing(cls, d: date, kind: PeriodKind, cutoff_day: int) -> Period:
        """The period of `kind` whose window holds `d` (16 Dec 2023 is in January 2024)."""
        check_cutoff_day(cutoff_day)
        year, month = d.year, d.month
        if d.day > cutoff_day:  # past the cut-off: the data belong to next month's report
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        span = MONTHS_PER[kind]
        return cls(year, kind, (month - 1) // span + 1)

    # -- windows ------------------------------------------------------------------------------

    def window(self, cutoff_day: int) -> tuple[date, date]:
        """Inclusive data window: (cutoff+1) of the month before the first month .. cutoff of the
        last month."""
        check_cutoff_day(cutoff_day)
        months = self.months()
        first, last = months[0].index, months[-1].index
        before_year, before_month = (self.year - 1, 12) if first == 1 else (self.year, first - 1)
        return date(before_year, before_month, cutoff_day + 1), date(self.year, last, cutoff_day)

    def contains(self, d: date, cutoff_day: int) -> bool:
        start, end = self.window(cutoff_day)
        return start <= d <= end

    def elapsed_fraction(
        self,
        as_of: date,
        cutoff_day: int,
        profile: Sequence[float] | None = None,
        until: date | None = None,
    ) -> float:
        """Share of the period's work expected to be done by the end of `as_of`, in [0, 1].

        Linear by days unless `profile` (12 monthly weights, Jan..Dec) says how the work is
        spread over the reporting months. `until` ends the span early (a milestone's due date).
        """
        start, end = self.window(cutoff_day)
        return pace_fraction(start, until or end, as_of, cutoff_day, profile)


def periods_containing(d: date, year: int, cutoff_day: int) -> list[Period]:
    """The month, quarter, half and year of plan `year` whose windows hold `d` (empty if none)."""
    month = Period.containing(d, "month", cutoff_day)
    if month.year != year:
        return []
    return [Period.containing(d, kind, cutoff_day) for kind in ("month", "quarter", "half", "year")]


def periods_of_year(year: int, kind: PeriodKind) -> list[Period]:
    return [Period(year, kind, i) for i in range(1, _COUNT_PER_YEAR[kind] + 1)]


def pace_fraction(
    start: date,
    end: date,
    as_of: date,
    cutoff_day: int,
    profile: Sequence[float] | None = None,
) -> float:
    """Fraction of the inclusive span start..end done at the end of day `as_of`.

    With a profile, each reporting month's window carries its month's weight, spread evenly over
    its days; the span may cut a month (a milestone due mid-month). If the profile gives the span
    no weight at all, the pace falls back to linear rather than dividing by zero.
    """
    if end < start:
        raise ValueError(f"empty span {start}..{end}")
    if as_of < start:
        return 0.0
    if as_of >= end:
        return 1.0
    linear = ((as_of - start).days + 1) / ((end - start).days + 1)
    if profile is None:
        return linear
    if len(profile) != 12:
        raise ValueError(f"a profile has 12 monthly weights, got {len(profile)}")
    done = total = 0.0
    month = Period.containing(start, "month", cutoff_day)
    while True:
        m_start, m_end = month.window(cutoff_day)
        if m_start > end:
            break
        lo, hi = max(m_start, start), min(m_end, end)
        per_day = profile[month.index - 1] / ((m_end - m_start).days + 1)
        total += per_day * ((hi - lo).days + 1)
        if as_of >= lo:
            done += per_day * ((min(as_of, hi) - lo).days + 1)
        month = Period.containing(m_end + timedelta(days=1), "month", cutoff_day)
    return done / total if total > 0 else linear
