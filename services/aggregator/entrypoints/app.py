"""The read API (HTTP JSON) and the background tasks, started in the app's lifespan."""

from __future__ import annotations

import logging
from datetime import date, datetime, tzinfo
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query
from sqlalchemy import text

from services.aggregator.adapters.queries import Queries
from services.aggregator.adapters.tables import audit_log
from services.aggregator.bootstrap import Aggregator, bootstrap
from services.aggregator.domain.kpi import end_of_day
from services.aggregator.entrypoints.access import ProvinceReader, Reader
from services.aggregator.entrypoints.pages import pages_router
from services.aggregator.entrypoints.report_export import periodic_report_router
from shared.api_docs import serve_api_docs
from shared.audit import AuditLog, audit_router
from shared.auth import AuthSettings, install_auth
from shared.events.models import KpiStatus
from shared.http_params import (
    DATE_OR_MOMENT,
    ERRORS,
    Code,
    answer_invalid_requests_safely,
    bounded_moment,
    require_known,
)
from shared.http_params import (
    Period as PeriodText,
)
from shared.lifespan import container_lifespan
from shared.observability import forget_checks, mount_health_and_metrics
from shared.plan.periods import Period

log = logging.getLogger(__name__)
AsOf = Annotated[
    str | None,
    Query(
        description="A date (end of that day, Vietnam time) or an RFC 3339 "
        "moment: what the system knew then (the events "
        "recorded by that moment), judged at that moment",
        pattern=DATE_OR_MOMENT,
        examples=["2024-06-14"],
    ),
]
PeriodQuery = Annotated[PeriodText | None, Query()]


def parse_as_of(value: str | None, zone: tzinfo) -> datetime | None:
    """A date is the end of that day in `zone` (the plan's); a moment needs its UTC offset."""
    if value is None:
        return None
    try:
        moment = (
            end_of_day(date.fromisoformat(value), zone) if len(value) == 10 else datetime.fromisoformat(value)
        )
    except ValueError:
        raise HTTPException(
            422, f"as_of {value!r} is not a date (2024-06-14) nor an RFC 3339 moment"
        ) from None
    if moment.tzinfo is None:
        raise HTTPException(422, "as_of needs a UTC offset, e.g. 2024-06-14T17:00:00+07:00")
    try:
        return bounded_moment(moment)
    except ValueError as exc:
        raise HTTPException(422, f"as_of {exc}") from None


def _period(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(Period.parse(value))
    except ValueError as exc:
        message = str(exc)
        raise HTTPException(422, message if "period" in message else f"period {value!r}: {message}") from None


def create_app(
    aggregator: Aggregator | None = None,
    *,
    settings: Any = None,
    run_background: bool = True,
    auth: AuthSettings | None = None,
) -> FastAPI:
    agg = aggregator or bootstrap(settings)
    queries = Queries(agg.engine, agg.plans)
    agencies = {a.code for a in agg.plan.agencies}
    indicators = {i.code for i in agg.plan.indicators}
    app = FastAPI(
        title="Tiendo aggregator",
        version="1.0.0",
        lifespan=container_lifespan(agg, background=run_background),
        description="KPI projections of the drug-prevention plan: figures, pace, forecast, "
        "status, report timeliness, audit trail and time travel.",
    )
    app.state.aggregator = agg
    app.state.audit = AuditLog(agg.engine, audit_log)
    install_auth(app, auth)  # every /v1 route needs a principal (access.py, docs/security.md)
    answer_invalid_requests_safely(app)
    serve_api_docs(app)

    async def database() -> str | None:
        async with agg.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None

    async def tasks_alive() -> str | None:
        dead = [t.get_name() for t in agg.tasks if t.done()]
        return f"stopped: {', '.join(dead)}" if dead else None

    mount_health_and_metrics(app, agg.registry, {"database": database, "tasks": tasks_alive})
    if not run_background:  # this app serves reads only: the consumers it never runs are not its readiness
        forget_checks(agg.registry, "consumer:")
    app.include_router(periodic_report_router(queries, agg.plan, agg.clock))  # .xlsx/PDF (issue 19)
    app.include_router(pages_router(queries, agg.plan, agg.clock))  # the people's pages (issue 19)

    @app.get(
        "/v1/kpis",
        tags=["kpis"],
        responses=ERRORS,
        summary="The KPI projection (now, or as of a past moment)",
    )
    async def list_kpis(
        scope: Reader,
        period: PeriodQuery = None,
        agency: Annotated[Code | None, Query()] = None,
        indicator: Annotated[Code | None, Query()] = None,
        status: KpiStatus | None = None,
        as_of: AsOf = None,
    ) -> dict:
        require_known(agency, agencies, "agency")
        require_known(indicator, indicators, "indicator")
        items = await queries.kpis(
            period=_period(period),
            agency=agency,
            indicator=indicator,
            status=status.value if status else None,
            as_of=parse_as_of(as_of, agg.plan.tz),
        )
        return {"as_of": as_of, "items": scope.items(items)}

    @app.get(
        "/v1/agencies/{code}/scorecard",
        tags=["kpis"],
        responses=ERRORS,
        summary="One agency: its KPIs with status and forecast, the figure of every indicator "
        "it reports, and its reports' timeliness",
    )
    async def scorecard(
        scope: Reader, code: Annotated[Code, Path()], period: PeriodQuery = None, as_of: AsOf = None
    ) -> dict:
        require_known(code, agencies, "agency", 404)
        agency = agg.plan.agency(code)
        moment = parse_as_of(as_of, agg.plan.tz)
        items = await queries.kpis(agency=code, period=_period(period), as_of=moment)
        reports = await queries.reports(code, moment)
        if period:
            reports = [r for r in reports if r["period"] == _period(period)]
        figures = await queries.figures(code, _period(period) or str(agg.plan.year), moment)
        day = agg.plan.local_day(moment or agg.clock.now())  # its name then, if an amendment renamed it
        return {
            "agency": code,
            "name_vi": agency.display_name("vi", day),
            "name_en": agency.display_name("en", day),
            "as_of": as_of,
            "kpis": items,
            "figures": figures,
            "reports": reports,
        }

    @app.get(
        "/v1/kpis/{agency}/{indicator}/{period}/history",
        tags=["kpis"],
        responses=ERRORS,
        summary="The audit trail: events behind the figure, superseded values, correction reasons "
        "(those recorded by `as_of`, with the KPI as it stood then)",
    )
    async def kpi_history(
        scope: Reader,
        agency: Annotated[Code, Path()],
        indicator: Annotated[Code, Path()],
        period: Annotated[PeriodText, Path()],
        as_of: AsOf = None,
    ) -> dict:
        require_known(agency, agencies, "agency", 404)
        require_known(indicator, indicators, "indicator", 404)
        period = _period(period)
        moment = parse_as_of(as_of, agg.plan.tz)
        items = await queries.history(agency, indicator, period, moment)
        current = await queries.kpis(agency=agency, indicator=indicator, period=period, as_of=moment)
        return {
            "agency": agency,
            "indicator": indicator,
            "period": period,
            "as_of": as_of,
            "kpi": current[0] if current else None,
            "target_versions": queries.target_versions(agency, indicator, period),
            "events": scope.without_notes(agency, items),
        }

    @app.get(
        "/v1/agencies/{code}/baselines",
        tags=["figures"],
        responses=ERRORS,
        summary="The agency's baselines taken from its own recorded history (`baseline_value: "
        "recorded`): the figure each target uses, when it froze, the year's figure as recorded now "
        "(a later correction shows here, not in the target), and the events behind it",
    )
    async def agency_baselines(scope: Reader, code: Annotated[Code, Path()]) -> dict:
        require_known(code, agencies, "agency", 404)
        items = await queries.baselines(code, agg.clock.now())
        return {"agency": code, "items": items}

    @app.get(
        "/v1/rollups",
        tags=["figures"],
        responses=ERRORS,
        summary="Area-wide figures the plan declares (`rollups:`): an agency's own figure plus "
        "those of the agencies rolled up into it (district police into the provincial "
        "police), each agency counted once",
    )
    async def list_rollups(
        scope: Reader,
        period: PeriodQuery = None,
        agency: Annotated[Code | None, Query()] = None,
        indicator: Annotated[Code | None, Query()] = None,
        as_of: AsOf = None,
    ) -> dict:
        require_known(agency, agencies, "agency")
        require_known(indicator, indicators, "indicator")
        period = _period(period) or str(agg.plan.year)
        items = await queries.rollups(
            period=period, agency=agency, indicator=indicator, as_of=parse_as_of(as_of, agg.plan.tz)
        )
        return {"period": period, "as_of": as_of, "items": scope.items(items)}

    @app.get(
        "/v1/province",
        tags=["figures"],
        responses=ERRORS,
        summary="The province-wide figure of each indicator: every agency's own figure once, "
        "through the roll-up it belongs to, with the agencies it is made of",
    )
    async def province(
        scope: ProvinceReader,
        period: PeriodQuery = None,
        indicator: Annotated[Code | None, Query()] = None,
        as_of: AsOf = None,
    ) -> dict:
        require_known(indicator, indicators, "indicator")
        period = _period(period) or str(agg.plan.year)
        items = await queries.province(
            period=period, indicator=indicator, as_of=parse_as_of(as_of, agg.plan.tz)
        )
        return {"period": period, "as_of": as_of, "items": items}

    app.include_router(audit_router(app.state.audit, agencies))
    return app
