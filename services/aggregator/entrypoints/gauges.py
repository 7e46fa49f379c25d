"""KPI gauges with bounded cardinality, refreshed from the projection every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from sqlalchemy import select

from shared.plan.periods import Period

from services.aggregator.adapters.tables import kpis, reports
from services.aggregator.domain.kpi import local_day

log = logging.getLogger(__name__)


async def refresh(agg) -> None:
    today = local_day(agg.clock.now())
    async with agg.engine.connect() as conn:
        kpi_rows = (await conn.execute(select(kpis.c.agency, kpis.c.indicator, kpis.c.period, kpis.c.status,
                                              kpis.c.actual, kpis.c.target))).all()
        report_rows = (await conn.execute(select(reports.c.status))).all()
    current = [r for r in kpi_rows if Period.parse(r.period).contains(today, agg.plan.cutoff_day)]
    per_status = Counter((r.indicator, r.status) for r in current)
    agg.metrics.kpis.clear()
    agg.metrics.progress.clear()
    for (indicator, status), n in per_status.items():
        agg.metrics.kpis.labels(indicator, status).set(n)
    for r in current:
        if r.target:
            agg.metrics.progress.labels(r.agency, r.indicator).set(r.actual / r.target)
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
