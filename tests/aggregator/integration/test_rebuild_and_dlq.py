"""Poison events go to the dead-letter topic without stalling; a rebuild from the topic matches
the live projection's checksum and can be swapped in under running replicas."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.aggregator.adapters import repository as repo
from services.aggregator.adapters.rebuild import rebuild
from services.aggregator.sample import sample_events
from tests.aggregator import helpers

pytestmark = pytest.mark.infra
POISON = [
    (
        b"CA-TINH",
        b"{not json",
        [
            ("content-type", b"application/json"),
            ("ce_specversion", b"1.0"),
            ("ce_id", b"p1"),
            ("ce_source", b"/agencies/CA-TINH"),
            ("ce_type", b"vn.gov.pcmt.indicator.reported.v1"),
            ("ce_time", b"2024-06-01T00:00:00+07:00"),
        ],
    ),
    (b"HQ", b'{"indicator": "drug_cases_detected"}', [("content-type", b"application/json")]),
]


async def test_poison_to_dlq_then_rebuild_equals_live_and_swaps_in(kafka_bootstrap, database_url):
    db = await helpers.fresh_database(database_url)
    topics = helpers.unique_topics("reb")
    await helpers.create_topics(kafka_bootstrap, topics)
    events = sample_events(helpers.PLAN, 600, seed=31)
    unknown = helpers.event(
        "CA-TINH", "indicator.reported", {"indicator": "ufo_sightings", "period": "2024", "value": 1}
    )
    settings = helpers.settings_for(kafka_bootstrap, db, topics, AGGREGATOR_BATCH_SIZE=100)
    async with helpers.running(settings) as agg:
        await helpers.produce(
            kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events[:300] + [unknown], raw=POISON
        )
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events[300:])
        await helpers.until_caught_up(kafka_bootstrap, topics)
        dead = await helpers.consume_all(
            kafka_bootstrap, topics["TIENDO_DLQ_TOPIC"], decode=False, until=lambda rs: len(rs) >= 3
        )
        assert sorted(dict(r.headers)["dlq_reason"] for r in dead) == [
            b"rejected",
            b"undecodable",
            b"undecodable",
        ]
        reasons = sorted(dict(r.headers)["dlq_detail"].decode() for r in dead)
        assert len(dead) == 3 and agg.metrics.dead_letters._value.get() == 3
        assert any("ufo_sightings" in r for r in reasons)
        assert any("not valid JSON" in r for r in reasons)
        assert any("ce_specversion" in r or "missing Kafka header" in r for r in reasons)
        assert {r.value for r in dead} >= {b"{not json"}
        assert (
            await helpers.count(
                agg.engine, "SELECT count(*) FROM aggregator.recorded_events WHERE rejected IS NULL"
            )
            == 600
        )

        await helpers.wait_until(lambda: _all_targets(agg.engine), timeout=30)
        compared = await rebuild(
            agg.engine, kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], helpers.PLAN, helpers.NOW, swap=False
        )
        assert compared.events == 603 and compared.equal, (compared.rebuilt_checksum, compared.live_checksum)

        # corrupt the live projection, rebuild and swap: the figures are right again
        async with agg.engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE aggregator.kpis SET actual = actual + 1000")
        recorded = "SELECT source, id, recorded_at FROM aggregator.recorded_events ORDER BY source, id"
        async with agg.engine.connect() as conn:
            before = (await conn.execute(text(recorded))).all()
        swapped = await rebuild(
            agg.engine, kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], helpers.PLAN, helpers.NOW
        )
        assert not swapped.equal and swapped.swapped
        async with agg.engine.connect() as conn:  # what the system knew when: as_of still answers
            assert (await conn.execute(text(recorded))).all() == before
        assert await helpers.live_kpis(agg.engine) == helpers.recomputed_kpis(events, helpers.NOW)
        async with agg.engine.connect() as conn:
            assert await repo.checksum(conn) == compared.live_checksum

        # the running replica keeps applying after the swap, from the rebuilt facts
        more = sample_events(helpers.PLAN, 200, seed=32)
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], more)
        await helpers.until_caught_up(kafka_bootstrap, topics)
        agg.consumer.force_check.set()  # re-evaluate every KPI now, as the periodic check would
        await helpers.wait_until(
            lambda: _equals(agg.engine, helpers.recomputed_kpis(events + more, helpers.NOW)), timeout=30
        )


async def _all_targets(engine) -> bool:
    return len(await helpers.live_kpis(engine)) == len(helpers.PLAN.targets)


async def _equals(engine, expected) -> bool:
    return await helpers.live_kpis(engine) == expected


async def test_a_rebuild_keeps_a_recorded_baseline_frozen_at_its_cut_off(kafka_bootstrap, database_url):
    """The 2025 target from the 2024 figure recorded by the cut-off (issue 20): a rebuild after a
    later correction of 2024 reads the same frozen figure (from the record times), so it equals
    the live projection rather than taking the corrected figure."""
    from datetime import timedelta

    from services.aggregator.domain.baselines import freeze_moment
    from shared.clock import ManualClock
    from shared.plan.book import PlanBook
    from tests.plans import next_year_plan

    book = PlanBook.of(helpers.PLAN, next_year_plan(recorded_baselines=True))
    cut_off = freeze_moment(book, "CA-HUONG-HOA", 2024)
    db = await helpers.fresh_database(database_url)
    topics = helpers.unique_topics("base")
    await helpers.create_topics(kafka_bootstrap, topics)
    clock = ManualClock(cut_off - timedelta(days=1))
    settings = helpers.settings_for(kafka_bootstrap, db, topics)
    cases = ("CA-HUONG-HOA", "drug_cases_detected")
    async with helpers.running(settings, clock, plan=book) as agg:
        december = helpers.reported(*cases, "2024", 48, id="december", time=clock.now())
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [december])
        await helpers.until_caught_up(kafka_bootstrap, topics)
        clock.set(cut_off + timedelta(days=30))
        fix = helpers.event(
            cases[0],
            "indicator.corrected",
            {"corrects": "december", "value": 60, "reason": "x"},
            time=clock.now(),
        )
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [fix])
        await helpers.until_caught_up(kafka_bootstrap, topics)

        async def projected():
            kpis = await helpers.live_kpis(agg.engine)
            return kpis.get((*cases, "2024"), (None,))[0] == 60 and (*cases, "2025") in kpis

        await helpers.wait_until(projected, timeout=30)
        target = "SELECT target FROM aggregator.kpis WHERE agency = 'CA-HUONG-HOA' AND period = '2025' AND indicator = 'drug_cases_detected'"
        async with agg.engine.connect() as conn:
            assert (
                await conn.execute(text(target))
            ).scalar_one() == 51  # 105 % of the 48 recorded by then, not of 60
        agg.consumer.force_check.set()  # every agency judged at the clock's moment, as the rebuild judges
        await helpers.wait_until(lambda: _checked(agg), timeout=30)  # cleared once applied
        compared = await rebuild(
            agg.engine, kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], book, clock.now(), swap=False
        )
        assert compared.events == 2 and compared.equal, (compared.rebuilt_checksum, compared.live_checksum)


async def _checked(agg) -> bool:
    return not agg.consumer.force_check.is_set()
