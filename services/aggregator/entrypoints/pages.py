"""The people's pages the aggregator serves (issue 19): the committee's board, an agency's page and
the history of one figure. Server-rendered HTML in the shared look (shared.web), from the
aggregator's own read model (`Queries`, the same data as the JSON read API)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.aggregator.adapters.queries import Queries
from services.aggregator.domain.kpi import end_of_day, local_day
from shared.http_params import bounded_moment
from shared.plan.periods import Period, periods_containing, periods_of_year
from shared.web import (
    ProgressPoint,
    ProgressSeries,
    page_environment,
    progress_chart,
    render_page,
    request_lang,
    stylesheet_router,
    translator,
)
from shared.web.i18n import number

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATUS_ORDER = ("missed", "lagging", "at_risk", "no_data", "on_track", "achieved")
BEHIND = ("missed", "lagging", "at_risk")  # below the pace expected by now (or the period is over)
OVERDUE = ("late", "missing")
_env = page_environment([TEMPLATES])


class Everyone:
    """Until access control is wired in, whoever reaches the pages sees every agency."""

    def may_read_agency(self, agency: str, plan: Any) -> bool:
        return True


async def everyone() -> Everyone:
    return Everyone()


# ACCESS CONTROL (issue 17), the one place: who is looking at the pages. Every page route depends on
# it (router-level) and filters what it shows with `viewer.may_read_agency(code, plan)`. Once the
# aggregator's app calls `shared.auth.install_auth`, this becomes
#     from shared.auth import page_principal as page_viewer
page_viewer = everyone
Viewer = Annotated[Any, Depends(page_viewer)]


def pages_router(queries: Queries, plan: Any, clock: Any) -> APIRouter:
    """The stylesheet (public: a login page needs it too) and the pages, behind `page_viewer`."""
    router = APIRouter(include_in_schema=False)
    router.include_router(stylesheet_router())
    pages = APIRouter(dependencies=[Depends(page_viewer)])
    agencies = {a.code: a for a in plan.agencies}
    indicators = {i.code: i for i in plan.indicators}
    year = Period.parse(plan.year)

    def agency_name(code: str, lang: str) -> str:
        return agencies[code].display_name(lang) if code in agencies else code

    def indicator_name(code: str, lang: str) -> str:
        return indicators[code].display_name(lang) if code in indicators else code

    def not_found(request: Request, message: str) -> HTMLResponse:
        return render_page(_env, request, "not_found.html.j2", status_code=404, message=message)

    def forbidden(request: Request) -> HTMLResponse:
        t = translator(request_lang(request))
        return render_page(_env, request, "not_found.html.j2", status_code=403, message=t("error.forbidden"))

    def cut_off(request: Request, errors: list[str]) -> datetime | None:
        """`as_of` from the form: a date (the end of that day, Vietnam time) or an RFC 3339 moment."""
        value = request.query_params.get("as_of") or None
        if value is None:
            return None
        try:
            moment = (
                end_of_day(date.fromisoformat(value)) if len(value) == 10 else datetime.fromisoformat(value)
            )
            return bounded_moment(moment)
        except ValueError:
            errors.append(translator(request_lang(request))("error.bad_as_of", value=value))
            return None

    def chosen_period(request: Request, errors: list[str]) -> str | None:
        value = request.query_params.get("period") or None
        if value is None:
            return None
        try:
            period = Period.parse(value)
        except ValueError:
            period = None
        if period is None or period.year != year.year:
            errors.append(translator(request_lang(request))("error.bad_period", value=value))
            return None
        return str(period)

    def period_choices() -> list[str]:
        return [
            str(p) for kind in ("year", "half", "quarter", "month") for p in periods_of_year(year.year, kind)
        ]

    @pages.get("/board", response_class=HTMLResponse)
    async def board(request: Request, viewer: Viewer) -> HTMLResponse:
        lang = request_lang(request)
        t = translator(lang)
        errors: list[str] = []
        moment = cut_off(request, errors)
        period = chosen_period(request, errors)
        judged_at = moment or clock.now()
        if period is not None:
            shown = [period]
        else:  # the periods in progress on that day (its month, quarter, half and year)
            shown = [str(p) for p in periods_containing(local_day(judged_at), year.year, plan.cutoff_day)]
            shown = shown or [str(year)]  # after the year: the year as it ended
        kpis = [
            k
            for k in await queries.kpis(as_of=moment)
            if k["period"] in shown and viewer.may_read_agency(k["agency"], plan)
        ]
        covering = [Period.parse(p) for p in shown]
        overdue = [
            dict(r, name=agency_name(r["agency"], lang))
            for r in await queries.all_reports(moment)
            if r["status"] in OVERDUE
            and viewer.may_read_agency(r["agency"], plan)
            and any(p.covers(Period.parse(r["period"])) for p in covering)
        ]
        progress = await queries.year_progress(judged_at, moment)
        sections = []
        for code in [i.code for i in plan.indicators if any(k["indicator"] == i.code for k in kpis)]:
            mine = [dict(k, name=agency_name(k["agency"], lang)) for k in kpis if k["indicator"] == code]
            by_status = [
                (status, [k for k in mine if k["status"] == status])
                for status in STATUS_ORDER
                if any(k["status"] == status for k in mine)
            ]
            behind = sorted(
                (k for k in mine if k["status"] in BEHIND),
                key=lambda k: (BEHIND.index(k["status"]), k["progress"] or 0.0),
            )
            chart = None
            if progress.get(code) and _sees_all(viewer, plan, code):
                chart = _chart(
                    code, indicator_name(code, lang), progress[code], year.window(plan.cutoff_day), lang
                )
            sections.append(
                {
                    "code": code,
                    "name": indicator_name(code, lang),
                    "unit": indicators[code].unit_label(lang),
                    "by_status": by_status,
                    "behind": behind,
                    "chart": chart,
                    "several_periods": len({k["period"] for k in mine}) > 1,
                }
            )
        return render_page(
            _env,
            request,
            "board.html.j2",
            errors=errors,
            chosen=period,
            as_of=request.query_params.get("as_of", "") if moment else "",
            shown=shown,
            choices=period_choices(),
            judged_at=judged_at,
            sections=sections,
            overdue=overdue,
            sample_note=plan.sample_data_note if any(t.sample for t in plan.targets) else None,
            title=t("board.title"),
        )

    @pages.get("/agencies/{code}", response_class=HTMLResponse)
    async def agency_page(request: Request, code: str, viewer: Viewer) -> HTMLResponse:
        lang = request_lang(request)
        t = translator(lang)
        if code not in agencies:
            return not_found(request, t("error.unknown_agency", code=code))
        if not viewer.may_read_agency(code, plan):
            return forbidden(request)
        errors: list[str] = []
        moment = cut_off(request, errors)
        agency = agencies[code]
        kpis = [
            dict(
                k, name=indicator_name(k["indicator"], lang), unit=indicators[k["indicator"]].unit_label(lang)
            )
            for k in await queries.kpis(agency=code, as_of=moment)
        ]
        kpis.sort(key=lambda k: (list(indicators).index(k["indicator"]), _period_rank(k["period"])))
        reports = await queries.reports(code, moment)
        others = [
            dict(f, name=indicator_name(f["indicator"], lang))
            for f in await queries.figures(code, str(year), moment)
            if not f["has_target"]
        ]
        parent = agency.parent
        return render_page(
            _env,
            request,
            "agency.html.j2",
            errors=errors,
            code=code,
            agency_name=agency.display_name(lang),
            parent=(parent, agency_name(parent, lang)) if parent else None,
            as_of=request.query_params.get("as_of", "") if moment else "",
            kpis=kpis,
            reports=reports,
            others=others,
            title=agency.display_name(lang),
        )

    @pages.get("/agencies/{code}/figures/{indicator}/{period}", response_class=HTMLResponse)
    async def figure_history(
        request: Request, code: str, indicator: str, period: str, viewer: Viewer
    ) -> HTMLResponse:
        lang = request_lang(request)
        t = translator(lang)
        if code not in agencies:
            return not_found(request, t("error.unknown_agency", code=code))
        try:
            period = str(Period.parse(period))
        except ValueError:
            return not_found(request, t("error.unknown_figure"))
        if indicator not in indicators:
            return not_found(request, t("error.unknown_figure"))
        if not viewer.may_read_agency(code, plan):
            return forbidden(request)
        errors: list[str] = []
        moment = cut_off(request, errors)
        events = await queries.history(code, indicator, period, moment)
        current = await queries.kpis(agency=code, indicator=indicator, period=period, as_of=moment)
        figure = next(
            (f for f in await queries.figures(code, period, moment) if f["indicator"] == indicator), None
        )
        return render_page(
            _env,
            request,
            "figure.html.j2",
            errors=errors,
            code=code,
            agency_name=agency_name(code, lang),
            indicator_name=indicator_name(indicator, lang),
            unit=indicators[indicator].unit_label(lang),
            period_code=period,
            kpi=current[0] if current else None,
            actual=figure["actual"] if figure else None,
            events=events,
            title=f"{indicator_name(indicator, lang)} — {agency_name(code, lang)}",
        )

    router.include_router(pages)
    return router


def _sees_all(viewer: Any, plan: Any, indicator: str) -> bool:
    """A chart adds up every agency's figures: shown only to those who may read them all."""
    return all(viewer.may_read_agency(t.agency, plan) for t in plan.targets_for() if t.indicator == indicator)


def _period_rank(period: str) -> tuple[int, int]:
    p = Period.parse(period)
    return ({"year": 0, "half": 1, "quarter": 2, "month": 3}[p.kind], p.index)


def _chart(code: str, name: str, points: list, window: tuple[date, date], lang: Any) -> str:
    t = translator(lang)
    start, end = window
    last = points[-1]
    series = ProgressSeries(
        start=start,
        end=end,
        target=last.target or None,
        points=[ProgressPoint(p.day, p.actual, p.expected) for p in points],
    )
    description = t(
        "chart.description",
        actual=number(last.actual, lang),
        expected=number(last.expected, lang),
        target=number(last.target, lang),
    )
    return progress_chart(
        series,
        chart_id=f"chart-{code}",
        title=f"{t('board.chart')}: {name}",
        description=description,
        legend=(t("chart.actual"), t("chart.expected"), t("chart.target")),
        month_labels=[f"T{m}" if lang == "vi" else str(m) for m in range(1, 13)],
    )
