"""KPI gauges with bounded cardinality, refreshed from the projection every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict

from sqlalchemy import func, select

from services.aggregator.adapters.tables import kpis, outbox, reports
from shared.events.models import KpiStatus
from shared.plan.periods import Period

log = logging.getLogger(__name__)


async def refresh(agg) -> None:
    now = agg.clock.now()
    today = agg.plan.local_day(now)
    async with agg.engine.connect() as conn:
        kpi_rows = (
            await conn.execute(
                select(
                    kpis.c.agency,
                    kpis.c.indicator,
                    kpis.c.period,
                    kpis.c.status,
                    kpis.c.actual,
                    kpis.c.target,
                    kpis.c.expected,
                )
            )
        ).all()
        report_rows = (await conn.execute(select(reports.c.status))).all()
        oldest = (await conn.execute(select(func.min(outbox.c.created_at)))).scalar()
    current = [r for r in kpi_rows if Period.parse(r.period).contains(today, agg.plan.cutoff_day)]
    per_status = Counter((r.indicator, r.status) for r in current)
    statuses = defaultdict(set)  # several current periods of one KPI: each of their statuses is 1
    for r in current:
        statuses[(r.agency, r.indicator)].add(r.status)
    agg.metrics.kpis.clear()
    agg.metrics.progress.clear()
    agg.metrics.expected.clear()
    agg.metrics.kpi_status.clear()
    for (indicator, status), n in per_status.items():
        agg.metrics.kpis.labels(indicator, status).set(n)
    for r in current:
        if r.target:
            agg.metrics.progress.labels(r.agency, r.indicator).set(r.actual / r.target)
            if r.expected is not None:
                agg.metrics.expected.labels(r.agency, r.indicator).set(r.expected / r.target)
    for (agency, indicator), held in statuses.items():
        for status in KpiStatus:
            agg.metrics.kpi_status.labels(agency, indicator, status.value).set(int(status.value in held))
    # created_at is stamped with the services' clock, so the age is measured with it too.
    agg.metrics.outbox_oldest.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0)
    parsed = [(Period.parse(r.period), r) for r in kpi_rows]
    years = [(str(period.year), r) for period, r in parsed if period.kind == "year"]
    agg.metrics.year_kpis.clear()
    agg.metrics.year_progress.clear()
    for (year, indicator, status), n in Counter((y, r.indicator, r.status) for y, r in years).items():
        agg.metrics.year_kpis.labels(year, indicator, status).set(n)
    for year, r in years:
        if r.target:
            agg.metrics.year_progress.labels(year, r.agency, r.indicator).set(r.actual / r.target)
    agg.metrics.reports.clear()
    for status, n in Counter(r.status for r in report_rows).items():
        agg.metrics.reports.labels(status).set(n)


async def refresh_forever(agg, stop: asyncio.Event, every: float = 5.0) -> None:
    while not stop.is_set():
        try:
            await refresh(agg)
        except Exception as exc:  # metrics must never take the service down
            log.debug("gauge refresh failed: %s", exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
