"""The periodic report from the read model: the figures and the reports' timeliness as `Queries`
gives them at a cut-off, made into the domain's `PeriodicReport` and rendered as .xlsx or PDF.
One path for the HTTP route and the `tiendo report export` command."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from services.aggregator.adapters.queries import Queries
from services.aggregator.domain.periodic_report import PeriodicReport, build_periodic_report
from shared.labels import Lang
from shared.plan.index import PlanIndex
from shared.plan.periods import Period

Format = Literal["xlsx", "pdf"]


async def load_periodic_report(
    queries: Queries, plan: PlanIndex, period: Period, as_of: datetime, lang: Lang = "vi"
) -> PeriodicReport:
    """What the system knew at `as_of` (the events recorded by then), judged then: the same
    figures as `GET /v1/kpis?as_of=...`."""
    kpis = await queries.kpis(as_of=as_of)
    reports = {
        agency.code: await queries.reports(agency.code, as_of)
        for agency in plan.agencies
        if plan.reporting_rule(agency.code) is not None
    }
    return build_periodic_report(plan, period, as_of, kpis, reports, lang)


def render(report: PeriodicReport, fmt: Format) -> bytes:
    """The report as a file; CPU-bound (a PDF takes a second or two): run it off the event loop."""
    if fmt == "pdf":
        from services.aggregator.adapters.report_pdf import render_pdf

        return render_pdf(report)
    from services.aggregator.adapters.report_xlsx import render_xlsx

    return render_xlsx(report)
