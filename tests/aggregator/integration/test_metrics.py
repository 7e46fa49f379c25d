"""The gauges the dashboards and alerts read: per-KPI status and pace (current periods), the
plan-year view (year-period KPIs, still there once the year is over), the age of the oldest
outbox row, and consumer lag only from the replica that owns the partition."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.aggregator.adapters.tables import kpis
from services.aggregator.entrypoints import gauges
from services.aggregator.entrypoints.consumer import partition_of
from shared.events.models import KpiStatus
from shared.plan.periods import Period
from tests.aggregator import helpers

pytestmark = pytest.mark.infra
STATUSES = {s.value for s in KpiStatus}


def samples(agg, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels.values()): s.value for m in agg.registry.collect() for s in m.samples if s.name == name
    }


def lag_partitions(agg) -> set[str]:
    return {labels[0] for labels in samples(agg, "aggregator_consumer_lag_records")}


def current_targets():
    today = helpers.PLAN.local_day(helpers.NOW)
    return [
        t
        for t in helpers.PLAN.targets
        if Period.parse(str(t.period)).contains(today, helpers.PLAN.cutoff_day)
    ]


async def test_kpi_status_and_pace_per_agency_and_the_oldest_outbox_row(kafka_bootstrap, module_db):
    topics = helpers.unique_topics("gauges")
    await helpers.create_topics(kafka_bootstrap, topics)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics)
    targets = current_targets()
    async with helpers.running(
        settings, relay=False
    ) as agg:  # no relay: the status events stay in the outbox
        await gauges.refresh(agg)
        assert samples(agg, "aggregator_outbox_oldest_seconds") == {(): 0.0}
        # A tiny figure for every current KPI: most fall behind their pace.
        await helpers.produce(
            kafka_bootstrap,
            topics["TIENDO_EVENTS_TOPIC"],
            [helpers.reported(t.agency, t.indicator, str(t.period), 0.001) for t in targets],
        )

        async def evaluated():
            return await helpers.count(
                agg.engine, "SELECT count(*) FROM aggregator.kpis WHERE actual > 0"
            ) >= len(targets)

        await helpers.wait_until(evaluated, timeout=60)
        async with agg.engine.connect() as conn:
            rows = (await conn.execute(select(kpis))).all()
        current = {
            (r.agency, r.indicator): r
            for r in rows
            if Period.parse(r.period).contains(helpers.PLAN.local_day(helpers.NOW), helpers.PLAN.cutoff_day)
        }
        assert len(current) == len(targets)  # one current period per KPI in this plan

        agg.clock.advance(timedelta(minutes=3))
        await gauges.refresh(agg)
        status = samples(agg, "aggregator_kpi_status")
        progress = samples(agg, "aggregator_kpi_progress_ratio")
        expected = samples(agg, "aggregator_kpi_expected_ratio")
        assert len(status) == len(current) * len(STATUSES)
        for (agency, indicator), row in current.items():
            assert {s for s in STATUSES if status[(agency, indicator, s)] == 1} == {row.status}
            assert sum(status[(agency, indicator, s)] for s in STATUSES) == 1
            if row.target:
                assert progress[(agency, indicator)] == pytest.approx(row.actual / row.target)
                assert expected[(agency, indicator)] == pytest.approx(row.expected / row.target)
        assert {labels[2] for labels, v in status.items() if v == 1} >= {"lagging"}
        # The outbox rows were stamped at NOW; the clock moved 3 minutes.
        assert samples(agg, "aggregator_outbox_oldest_seconds")[()] == pytest.approx(180)

        # Once relayed, the outbox is empty again: 0.
        relay = asyncio.create_task(agg.relay.run(stop := asyncio.Event()))
        try:

            async def drained():
                return await helpers.count(agg.engine, "SELECT count(*) FROM aggregator.outbox") == 0

            await helpers.wait_until(drained, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(relay, 30)
        await gauges.refresh(agg)
        assert samples(agg, "aggregator_outbox_oldest_seconds") == {(): 0.0}

        # Once the plan year is over no period is current, and the year view still holds the year.
        agg.clock.advance(timedelta(days=400))
        async with agg.engine.connect() as conn:
            year_rows = [r for r in (await conn.execute(select(kpis))).all() if r.period.isdigit()]
        await gauges.refresh(agg)
        assert samples(agg, "aggregator_current_kpis") == {} and year_rows
        assert samples(agg, "aggregator_year_kpi_progress_ratio") == pytest.approx(
            {(r.period, r.agency, r.indicator): r.actual / r.target for r in year_rows if r.target}
        )
        per_status = samples(agg, "aggregator_year_kpis")
        assert {year for year, _, _ in per_status} == {r.period for r in year_rows}
        assert sum(per_status.values()) == len(year_rows)


async def test_a_replica_drops_the_lag_of_the_partitions_it_loses_in_a_rebalance(kafka_bootstrap, module_db):
    topics = helpers.unique_topics("lag")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=3)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics)
    first_target = {}
    for t in helpers.PLAN.targets:
        first_target.setdefault(t.agency, t)
    assert {partition_of(a, 3) for a in first_target} == {0, 1, 2}

    async def send(value: float) -> None:
        await helpers.produce(
            kafka_bootstrap,
            topics["TIENDO_EVENTS_TOPIC"],
            [helpers.reported(t.agency, t.indicator, str(t.period), value) for t in first_target.values()],
        )

    async with helpers.running(settings, relay=False) as one:
        await send(1)
        await helpers.wait_until(lambda: _async(lag_partitions(one) == {"0", "1", "2"}), timeout=60)
        async with helpers.running(settings, relay=False) as two:

            async def split():
                await send(2)  # records on every partition: each owner sets its lag
                mine, theirs = lag_partitions(one), lag_partitions(two)
                return mine and theirs and not mine & theirs and mine | theirs == {"0", "1", "2"}

            await helpers.wait_until(split, timeout=90, every=1)


async def _async(value):
    return value
