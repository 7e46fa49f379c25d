"""The people's pages the aggregator serves (issue 19): the committee's board, an agency's page and
the history of one figure. Server-rendered HTML in the shared look (shared.web), from the
aggregator's own read model (`Queries`, the same data as the JSON read API)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urljoin

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.aggregator.adapters.queries import Queries
from services.aggregator.domain.kpi import end_of_day
from services.aggregator.entrypoints.access import ReadScope
from shared.audit import ALLOWED, DENIED, AuditEntry
from shared.auth import CSRF_COOKIE, AuthSettings, Principal
from shared.auth import page_principal as page_viewer
from shared.http_params import bounded_moment
from shared.plan.index import PlanIndex
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


# ACCESS CONTROL (issue 17): who is looking at the pages is shared.auth's page principal (a
# visitor without a session is sent to the login page); what they may see is the read API's rule
# (access.py's ReadScope), never a rule of the pages' own.
Viewer = Annotated[Principal, Depends(page_viewer)]


def pages_router(queries: Queries, plan: PlanIndex, clock: Any) -> APIRouter:
    """The stylesheet (public: a login page needs it too) and the pages, behind `page_viewer`."""
    router = APIRouter(include_in_schema=False)
    router.include_router(stylesheet_router())
    pages = APIRouter(dependencies=[Depends(page_viewer)])
    agencies = {a.code: a for a in plan.agencies}
    indicators = {i.code: i for i in plan.indicators}
    year = Period.parse(plan.year)

    def agency_name(code: str, lang: str, on: date | None = None) -> str:
        return agencies[code].display_name(lang, on) if code in agencies else code

    def indicator_name(code: str, lang: str) -> str:
        return indicators[code].display_name(lang) if code in indicators else code

    def show(
        request: Request, viewer: Principal, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page with the visitor's name and a logout button (intake's /logout, beside its /login)."""
        settings: AuthSettings = request.app.state.auth_settings
        account = {
            "name": viewer.name,
            "logout_url": urljoin(settings.login_url, "logout"),
            "csrf": request.cookies.get(CSRF_COOKIE, ""),
        }
        return render_page(
            _env,
            request,
            template,
            timezone=plan.timezone,
            status_code=status_code,
            account=account,
            **context,
        )

    def not_found(request: Request, viewer: Principal, message: str) -> HTMLResponse:
        t = translator(request_lang(request))
        return show(
            request, viewer, "error.html.j2", status_code=404, heading=t("error.not_found"), message=message
        )

    async def may_read(request: Request, scope: ReadScope, agency: str) -> bool:
        """The read API's rule for an agency's page, recorded in the audit log as the API's reads are."""
        allowed = scope.may_read(agency)
        entry = AuditEntry.of(
            request, scope.principal, "read", agency=agency, outcome=ALLOWED if allowed else DENIED
        )
        await request.app.state.audit.record(entry)
        return allowed

    def forbidden(request: Request, viewer: Principal) -> HTMLResponse:
        t = translator(request_lang(request))
        return show(
            request,
            viewer,
            "error.html.j2",
            status_code=403,
            heading=t("error.forbidden_title"),
            message=t("error.forbidden"),
        )

    def cut_off(request: Request, errors: list[str]) -> datetime | None:
        """`as_of` from the form: a date (the end of that day, Vietnam time) or an RFC 3339 moment."""
        value = request.query_params.get("as_of") or None
        if value is None:
            return None
        try:
            moment = (
                end_of_day(date.fromisoformat(value), plan.tz)
                if len(value) == 10
                else datetime.fromisoformat(value)
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
    async def board(request: Request, viewer: Viewer) -> Response:
        scope = ReadScope(viewer, plan)
        if not scope.whole_province:
            # every agency's figures, as /v1/province: a leader is sent to their own agency's page
            lang_choice = request.query_params.get("lang")
            query = f"?{urlencode({'lang': lang_choice})}" if lang_choice in ("vi", "en") else ""
            return RedirectResponse(f"/agencies/{quote(viewer.agency or '', safe='')}{query}", 303)
        lang = request_lang(request)
        t = translator(lang)
        errors: list[str] = []
        moment = cut_off(request, errors)
        period = chosen_period(request, errors)
        judged_at = moment or clock.now()
        day = plan.local_day(judged_at)  # names as they were then
        if period is not None:
            shown = [period]
        else:  # the periods in progress on that day (its month, quarter, half and year)
            shown = [str(p) for p in periods_containing(day, year.year, plan.cutoff_day)]
            shown = shown or [str(year)]  # after the year: the year as it ended
        kpis = [k for k in await queries.kpis(as_of=moment) if k["period"] in shown]
        covering = [Period.parse(p) for p in shown]
        overdue = [
            dict(r, name=agency_name(r["agency"], lang, day))
            for r in await queries.all_reports(moment)
            if r["status"] in OVERDUE and any(p.covers(Period.parse(r["period"])) for p in covering)
        ]
        progress = await queries.year_progress(judged_at, moment)
        sections = []
        for code in [i.code for i in plan.indicators if any(k["indicator"] == i.code for k in kpis)]:
            mine = [dict(k, name=agency_name(k["agency"], lang, day)) for k in kpis if k["indicator"] == code]
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
            if progress.get(code):
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
        as_of = request.query_params.get("as_of", "") if moment else ""
        return show(
            request,
            viewer,
            "board.html.j2",
            errors=errors,
            chosen=period,
            as_of=as_of,
            shown=shown,
            downloads=[(p, _report_links(p, as_of, lang)) for p in shown],
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
            return not_found(request, viewer, t("error.unknown_agency", code=code))
        if not await may_read(request, ReadScope(viewer, plan), code):
            return forbidden(request, viewer)
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
        day = plan.local_day(moment or clock.now())  # names as they were then
        return show(
            request,
            viewer,
            "agency.html.j2",
            errors=errors,
            code=code,
            agency_name=agency.display_name(lang, day),
            parent=(parent, agency_name(parent, lang, day)) if parent else None,
            as_of=request.query_params.get("as_of", "") if moment else "",
            kpis=kpis,
            reports=reports,
            others=others,
            title=agency.display_name(lang, day),
        )

    @pages.get("/agencies/{code}/figures/{indicator}/{period}", response_class=HTMLResponse)
    async def figure_history(
        request: Request, code: str, indicator: str, period: str, viewer: Viewer
    ) -> HTMLResponse:
        lang = request_lang(request)
        t = translator(lang)
        if code not in agencies:
            return not_found(request, viewer, t("error.unknown_agency", code=code))
        try:
            period = str(Period.parse(period))
        except ValueError:
            return not_found(request, viewer, t("error.unknown_figure"))
        if indicator not in indicators:
            return not_found(request, viewer, t("error.unknown_figure"))
        if not await may_read(request, ReadScope(viewer, plan), code):
            return forbidden(request, viewer)
        errors: list[str] = []
        moment = cut_off(request, errors)
        events = await queries.history(code, indicator, period, moment)
        current = await queries.kpis(agency=code, indicator=indicator, period=period, as_of=moment)
        figure = next(
            (f for f in await queries.figures(code, period, moment) if f["indicator"] == indicator), None
        )
        day = plan.local_day(moment or clock.now())
        return show(
            request,
            viewer,
            "figure.html.j2",
            errors=errors,
            code=code,
            agency_name=agency_name(code, lang, day),
            indicator_name=indicator_name(indicator, lang),
            unit=indicators[indicator].unit_label(lang),
            period_code=period,
            kpi=current[0] if current else None,
            actual=figure["actual"] if figure else None,
            events=events,
            title=f"{indicator_name(indicator, lang)} — {agency_name(code, lang, day)}",
        )

    router.include_router(pages)
    return router


def _report_links(period: str, as_of: str, lang: str) -> dict[str, str]:
    """The periodic report's downloads (GET /v1/reports/periodic, which takes the page's session)."""
    query = {"period": period, **({"as_of": as_of} if as_of else {}), "lang": lang}
    return {f: f"/v1/reports/periodic?{urlencode({**query, 'format': f})}" for f in ("xlsx", "pdf")}


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
