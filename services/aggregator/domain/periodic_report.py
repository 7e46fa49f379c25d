"""The periodic report the committee's secretariat sends upward (issue 19): for a reporting period
(a month, a quarter, the half-year or the year) and a cut-off moment, every KPI of the plan that
falls in the period, by agency and indicator, with its status; the reports that were late or are
missing; and the plan's sample-data note where targets are samples.

Pure: built from what the read model gives (`Queries.kpis`, `Queries.reports`, as the JSON read API
words them) and the plan; the renderers (`adapters/report_xlsx.py`, `adapters/report_pdf.py`) only
lay it out. Every word the report shows is in shared/messages/periodic_report.toml, Vietnamese
first (the administrative register of Decree 30/2020/NĐ-CP), English with `lang="en"`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.labels import Lang, kpi_status_label, period_label, report_status_label
from shared.messages import words
from shared.plan.index import PlanIndex
from shared.plan.periods import Period

OVERDUE = ("late", "missing")
STATUS_ORDER = ("achieved", "on_track", "at_risk", "lagging", "missed", "no_data")
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")  # fmt: skip


def report_period(text: str, plan: PlanIndex) -> Period:
    """The period a report covers: ValueError unless it is one of the plan year's periods."""
    period = Period.parse(text)
    if period.year != plan.year:
        raise ValueError(f"period {text!r}: the plan covers {plan.year} only ({plan.code})")
    return period


@dataclass(frozen=True, slots=True)
class KpiRow:
    agency: str
    agency_name: str
    indicator: str
    indicator_name: str
    unit: str
    period: str  # the target's period: the report's own, one inside it, or the year it lies in
    period_label: str
    actual: float
    target: float | None
    progress: float | None  # actual / target, a fraction (None without a target)
    status: str
    status_label: str
    sample: bool  # the target is an illustrative sample (the plan's `sample: true`)
    whole: bool  # a count (whole units), not a measure with decimals


@dataclass(frozen=True, slots=True)
class OverdueReport:
    agency: str
    agency_name: str
    period: str
    period_label: str
    deadline: date
    submitted: date | None
    status: str
    status_label: str


@dataclass(frozen=True, slots=True)
class AgencyGroup:
    agency: str
    name: str
    rows: tuple[KpiRow, ...]


@dataclass(frozen=True, slots=True)
class PeriodicReport:
    lang: Lang
    period: str
    as_of: datetime
    issuer: str  # the steering committee, upper case, as the header's top left names it
    place: str
    place_and_date: str
    number_line: str
    title: str
    subtitle: str
    period_line: str
    rows: tuple[KpiRow, ...]
    overdue: tuple[OverdueReport, ...]
    summary: str
    sample_note: str | None  # the plan's note, when any target shown is a sample
    signer_name: str | None
    words: Mapping[str, str]

    @property
    def groups(self) -> list[AgencyGroup]:
        """The rows by agency, in the plan's order of agencies."""
        out: list[AgencyGroup] = []
        for row in self.rows:
            if not out or out[-1].agency != row.agency:
                out.append(AgencyGroup(row.agency, row.agency_name, ()))
            last = out[-1]
            out[-1] = AgencyGroup(last.agency, last.name, (*last.rows, row))
        return out

    def filename(self, fmt: str) -> str:
        return f"bao-cao-{self.period}-den-{self.as_of.date().isoformat()}.{fmt}"


def _overlaps(a: Period, b: Period) -> bool:
    # Plan periods nest (months in quarters in halves in the year): two overlap when one covers the other.
    return a.covers(b) or b.covers(a)


def _day_text(day: date, lang: Lang) -> str:
    return (
        f"{day.day}/{day.month}/{day.year}"
        if lang == "vi"
        else f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    )


def _place(plan: PlanIndex, day: date) -> str:
    name = plan.unit(plan.steering_committee().unit).name_on(day)
    for prefix in ("Tỉnh ", "Thành phố ", "Huyện ", "Thị xã "):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def build_periodic_report(
    plan: PlanIndex,
    period: Period,
    as_of: datetime,
    kpis: Iterable[Mapping[str, Any]],
    reports: Mapping[str, Iterable[Mapping[str, Any]]],
    lang: Lang = "vi",
) -> PeriodicReport:
    """The report of `period` as it stood at `as_of`: `kpis` as `Queries.kpis(as_of=...)` gives
    them (any periods: those outside this one are left out), `reports` each agency's as
    `Queries.reports(agency, as_of)` gives them."""
    w = words("periodic_report", lang)
    day = plan.local_day(as_of)  # an agency renamed by an amendment is named as it was then
    agency_order = {a.code: i for i, a in enumerate(plan.agencies)}
    indicator_order = {i.code: n for n, i in enumerate(plan.indicators)}
    rows = []
    for k in kpis:
        kpi_period = Period.parse(k["period"])
        if not _overlaps(kpi_period, period):
            continue
        agency, indicator = plan.agency(k["agency"]), plan.indicator(k["indicator"])
        target = plan.target(k["agency"], k["indicator"], k["period"])
        rows.append(
            KpiRow(
                agency=agency.code,
                agency_name=agency.display_name(lang, day),
                indicator=indicator.code,
                indicator_name=indicator.display_name(lang),
                unit=indicator.unit_label(lang),
                period=k["period"],
                period_label=period_label(k["period"], lang),
                actual=k["actual"],
                target=k["target"],
                progress=k["progress"],
                status=k["status"],
                status_label=kpi_status_label(k["status"], lang),
                sample=bool(target is not None and target.sample),
                whole=indicator.kind == "count",
            )
        )
    # months before quarters before the half before the year: the shortest span first
    rows.sort(
        key=lambda r: (
            agency_order.get(r.agency, len(agency_order)),
            indicator_order.get(r.indicator, len(indicator_order)),
            len(Period.parse(r.period).months()),
            r.period,
        )
    )
    overdue = []
    for code, items in reports.items():
        agency = plan.agency(code)
        for r in items:
            if r["status"] not in OVERDUE or not _overlaps(Period.parse(r["period"]), period):
                continue
            submitted = r.get("submitted_at")
            overdue.append(
                OverdueReport(
                    agency=code,
                    agency_name=agency.display_name(lang, day),
                    period=r["period"],
                    period_label=period_label(r["period"], lang),
                    deadline=datetime.fromisoformat(r["deadline"]).astimezone(plan.tz).date(),
                    submitted=datetime.fromisoformat(submitted).astimezone(plan.tz).date()
                    if submitted
                    else None,
                    status=r["status"],
                    status_label=report_status_label(r["status"], lang),
                )
            )
    overdue.sort(key=lambda r: (r.deadline, agency_order.get(r.agency, 0), r.period))

    committee = plan.steering_committee()
    place = _place(plan, day)
    counts = {s: sum(r.status == s for r in rows) for s in STATUS_ORDER}
    parts = ", ".join(f"{kpi_status_label(s, lang).lower()}: {n}" for s, n in counts.items() if n)
    return PeriodicReport(
        lang=lang,
        period=str(period),
        as_of=as_of.astimezone(plan.tz),  # the filename's day is the plan's
        issuer=committee.display_name(lang, day).upper(),
        place=place,
        place_and_date=f"{place}, ngày {day.day} tháng {day.month} năm {day.year}"
        if lang == "vi"
        else f"{place}, {_day_text(day, lang)}",
        number_line=w["number"],
        title=w["title"],
        subtitle=w["subtitle"].format(code=plan.code, title=plan.title),
        period_line=w["period_line"].format(period=period.label(lang), day=_day_text(day, lang)),
        rows=tuple(rows),
        overdue=tuple(overdue),
        summary=w["summary"].format(n=len(rows), parts=parts) if rows else w["no_kpis"],
        sample_note=plan.sample_data_note if any(r.sample for r in rows) else None,
        signer_name=committee.leaders[0].name if committee.leaders else None,
        words=w,
    )
