"""Any permutation and duplication of a stream gives the same projection, through the projector's
real apply path on PostgreSQL: reports, correction chains, activities and report submissions,
delivered in random batches with redeliveries (a record seen again in a later batch, as after a lost
offset commit) and a projector restarted mid-stream (a cold cache). The kpis and reports tables,
what the read API serves, must equal a from-scratch fold of the distinct events.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from services.aggregator.adapters.tables import kpis, reports
from services.aggregator.adapters.unit_of_work import SqlUnitOfWork
from services.aggregator.service_layer.ports import Delivered
from services.aggregator.service_layer.projector import Projector
from shared.db import make_engine
from tests.aggregator.helpers import NOW, PLAN, fresh_database
from tests.aggregator.streams import deliveries, expected_projection, record, streams

pytestmark = pytest.mark.infra


async def live_projection(engine):
    async with engine.connect() as conn:
        k = (await conn.execute(select(kpis))).all()
        r = (await conn.execute(select(reports))).all()
    return (
        {
            (x.agency, x.indicator, x.period): (x.actual, x.target, x.expected, x.forecast, x.status, x.due)
            for x in k
        },
        {(x.agency, x.period): (x.status, x.deadline, x.submitted_at) for x in r},
    )


async def run(url: str, batches: list[list], restart_at: int | None, distinct: list[Delivered]):
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE aggregator.recorded_events, aggregator.agency_versions, "
                    "aggregator.kpis, aggregator.reports, aggregator.outbox"
                )
            )
        projector = Projector(SqlUnitOfWork(engine), PLAN.index, "status", "dlq")
        for i, batch in enumerate(batches):
            if i == restart_at:  # a restarted replica: ledgers reloaded from the inbox
                projector = Projector(SqlUnitOfWork(engine), PLAN.index, "status", "dlq")
            await projector.apply(batch, NOW)
        expected_kpis, expected_reports = expected_projection(distinct)
        live_kpis, live_reports = await live_projection(engine)
        # every row the batches wrote is what the fold of the distinct events says ...
        wrong = {k: (v, expected_kpis.get(k)) for k, v in live_kpis.items() if expected_kpis.get(k) != v}
        assert not wrong, f"KPI rows differing from the fold (live, fold): {wrong}"
        assert live_reports == expected_reports
        # ... and once every agency is evaluated (as the deadline check does), every KPI is
        agencies = {d.fact.agency for d in distinct}
        await Projector(SqlUnitOfWork(engine), PLAN.index, "status", "dlq").apply(
            [], NOW, reevaluate=agencies
        )
        await projector.apply([], NOW, reevaluate=agencies)
        assert await live_projection(engine) == (expected_kpis, expected_reports)
        async with engine.connect() as conn:
            inbox = (
                await conn.execute(
                    text("SELECT count(*) FROM aggregator.recorded_events WHERE rejected IS NULL")
                )
            ).scalar()
        assert inbox == len(distinct)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def property_db(database_url: str) -> str:
    return asyncio.run(fresh_database(database_url))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(streams(), st.data())
def test_any_order_batching_and_redelivery_gives_the_projection_of_the_distinct_events(
    property_db, events, data
):
    items = [record(e, offset) for offset, e in enumerate(events, start=1)]
    distinct = [i for i in items if type(i) is Delivered]
    batches = deliveries(data.draw, items)
    restart_at = data.draw(st.none() | st.integers(1, max(1, len(batches) - 1)))
    asyncio.run(run(property_db, batches, restart_at, distinct))
