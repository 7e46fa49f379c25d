"""`GET /v1/reports/periodic`: the periodic report of a period at a cut-off, as .xlsx or PDF
(issue 19), for the secretariat to send upward without retyping the figures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.aggregator.adapters.periodic_reports import Format, load_periodic_report, render
from services.aggregator.adapters.queries import Queries
from services.aggregator.domain.periodic_report import FORMATS, report_period
from services.aggregator.entrypoints.access import ProvinceReader
from shared.http_params import DATE_OR_MOMENT, ERRORS
from shared.http_params import Period as PeriodText
from shared.plan.index import PlanIndex

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as a file (Content-Disposition: attachment)",
        "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in FORMATS.values()},
    },
    **ERRORS,
}


def periodic_report_router(queries: Queries, plan: PlanIndex, clock: Any) -> APIRouter:
    # app.py includes this router; its as_of parser is read once app.py has finished loading
    from services.aggregator.entrypoints.app import parse_as_of

    router = APIRouter(tags=["reports"])

    @router.get(
        "/v1/reports/periodic",
        responses=FILE_RESPONSES,
        response_class=Response,
        summary="The periodic report of a period (month, quarter, half-year, year) at a cut-off, "
        "as an Excel workbook or a PDF laid out as an administrative report",
    )
    async def periodic_report(
        scope: ProvinceReader,  # every agency's figures: for whoever may read them all (access.py)
        period: Annotated[PeriodText, Query(description="The reporting period")],
        as_of: Annotated[
            str | None,
            Query(
                description="The cut-off: a date (end of that day, Vietnam time) or an RFC 3339 "
                "moment; the events recorded by then, judged then. Now without it",
                pattern=DATE_OR_MOMENT,
                examples=["2024-06-14"],
            ),
        ] = None,
        format: Annotated[Format, Query(description="xlsx or pdf")] = "xlsx",
        lang: Annotated[Literal["vi", "en"], Query(description="The report's language")] = "vi",
    ) -> Response:
        try:
            wanted = report_period(period, plan)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        moment = parse_as_of(as_of, plan.tz) or clock.now()
        report = await load_periodic_report(queries, plan, wanted, moment, lang)
        body = await run_in_threadpool(render, report, format)
        return Response(
            body,
            media_type=FORMATS[format],
            headers={"Content-Disposition": f'attachment; filename="{report.filename(format)}"'},
        )

    return router
