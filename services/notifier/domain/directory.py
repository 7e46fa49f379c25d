"""Who is who: agencies, their leaders and escalation chains, indicator names.

A plain snapshot of the plan's data, so the domain needs neither the YAML loader nor I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.plan.entries import Renames, name_on


@dataclass(frozen=True)
class Leader:
    name: str
    email: str
    title: str = ""
    language: str = "vi"  # "vi" | "en"


@dataclass(frozen=True)
class Agency:
    code: str
    name_vi: str
    name_en: str
    leaders: tuple[Leader, ...] = ()
    parent: str | None = None
    # Parent … steering committee, the order in which an open alert climbs.
    chain: tuple[str, ...] = ()
    # (from the day, name_vi, name_en) of each rename by a plan amendment, oldest first
    renamed: Renames = ()

    def name(self, language: str, on: date | None = None) -> str:
        """Its name on a day (`on`), or as it is after every rename (None)."""
        vi, en = name_on(self.name_vi, self.name_en, self.renamed, on)
        return en if language == "en" else vi


@dataclass(frozen=True)
class Indicator:
    code: str
    name_vi: str
    name_en: str
    unit_vi: str = ""
    unit_en: str = ""
    kind: str = "count"  # "count": whole things, shown as whole numbers; "measure": keeps decimals

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi

    def unit(self, language: str) -> str:
        return self.unit_en if language == "en" else self.unit_vi


@dataclass
class Directory:
    agencies: dict[str, Agency] = field(default_factory=dict)
    indicators: dict[str, Indicator] = field(default_factory=dict)
    # the plan's (Plan.cutoff_day, Plan.timezone): the notifier judges and renders in them
    cutoff_day: int = field(kw_only=True)
    timezone: str = field(kw_only=True)
    plan_year: int | None = None  # named in every email's opening line
    plan_code: str | None = None  # e.g. "29/KH-BCĐ", named there too
    plan_title: str | None = None
    # (agency, indicator, period) → the indicator a ratio target applies to: what a `no_data`
    # alert asks the agency to report
    denominators: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # every plan loaded, by year: (code, title); an email names the plans of its alerts' years
    plans: dict[int, tuple[str, str]] = field(default_factory=dict)

    def plans_of(self, periods: list[str]) -> list[tuple[int, str | None, str | None]]:
        """(year, code, title) of the plans the periods belong to, oldest first; the newest plan's
        when none is given (or known)."""
        years = sorted({int(p[:4]) for p in periods if p[:4].isdigit()} & self.plans.keys())
        if not years:
            return [(self.plan_year or 0, self.plan_code, self.plan_title)] if self.plan_year else []
        return [(y, *self.plans[y]) for y in years]

    def agency(self, code: str) -> Agency:
        # An agency the plan does not know still gets its alerts recorded, just nobody to mail.
        return self.agencies.get(code) or Agency(code=code, name_vi=code, name_en=code)

    def indicator(self, code: str | None) -> Indicator:
        if code is None:
            return Indicator(code="", name_vi="Báo cáo định kỳ", name_en="Periodic report")
        return self.indicators.get(code) or Indicator(code=code, name_vi=code, name_en=code)

    def missing_figure(self, agency: str, indicator: str | None, period: str) -> str | None:
        """The denominator a ratio target waits for, if it has one."""
        return self.denominators.get((agency, indicator or "", period))

    def leader(self, email: str) -> Leader | None:
        for agency in self.agencies.values():
            for leader in agency.leaders:
                if leader.email.lower() == email.lower():
                    return leader
        return None

    def led_by(self, email: str) -> set[str]:
        """The agencies whose leader this address is."""
        return {
            a.code
            for a in self.agencies.values()
            if any(lead.email.lower() == email.lower() for lead in a.leaders)
        }

    def ancestors(self, code: str) -> list[str]:
        seen, out, current = {code}, [], self.agency(code).parent
        while current and current not in seen:
            out.append(current)
            seen.add(current)
            current = self.agency(current).parent
        return out
