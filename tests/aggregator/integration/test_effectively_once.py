"""Effectively once on real Kafka and PostgreSQL: repeats, redelivery, a PostgreSQL restart, and
two replicas through rebalances all end in the projection a from-scratch recomputation gives."""

from __future__ import annotations

import asyncio

import pytest

from services.aggregator.sample import sample_events
from shared.infra import PostgresServer
from tests.aggregator import helpers

pytestmark = pytest.mark.infra


async def _settled(agg, bootstrap, topics, n_unique):
    await helpers.until_caught_up(bootstrap, topics)

    async def all_there():
        kpis = await helpers.live_kpis(agg.engine)
        return len(kpis) == len(helpers.PLAN.targets) and kpis

    await helpers.wait_until(all_there, timeout=30)
    assert await helpers.count(agg.engine, "SELECT count(*) FROM aggregator.recorded_events") == n_unique


async def test_repeats_from_the_agency_and_redelivery_are_applied_once(kafka_bootstrap, database_url):
    db = await helpers.fresh_database(database_url)
    topics = helpers.unique_topics("dup")
    await helpers.create_topics(kafka_bootstrap, topics)
    events = sample_events(helpers.PLAN, 400, seed=11)
    # the agency sends 50 of its events a second time (same source and id)
    await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events + events[100:150])
    settings = helpers.settings_for(kafka_bootstrap, db, topics, AGGREGATOR_BATCH_SIZE=64)
    async with helpers.running(settings) as agg:
        await _settled(agg, kafka_bootstrap, topics, 400)
        first = await helpers.live_kpis(agg.engine)
        assert agg.metrics.duplicates._value.get() == 50
    assert first == helpers.recomputed_kpis(events, helpers.NOW)

    # a new consumer group gets every record again: nothing changes, everything is a repeat
    topics["AGGREGATOR_GROUP_ID"] += "-again"
    async with helpers.running(helpers.settings_for(kafka_bootstrap, db, topics)) as agg:
        await _settled(agg, kafka_bootstrap, topics, 400)
        assert await helpers.live_kpis(agg.engine) == first
        assert agg.metrics.duplicates._value.get() == 450
        assert agg.metrics.applied.labels("all")._value.get() == 0


@pytest.fixture
def own_postgres(tmp_path):
    """A cluster of this test's own: restarting the session's would disturb every other test."""
    with PostgresServer(tmp_path / "postgres") as server:
        yield server


async def test_postgres_restart_under_load_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap, own_postgres
):
    postgres_server = own_postgres
    db = await helpers.fresh_database(own_postgres.url)
    topics = helpers.unique_topics("pgr")
    await helpers.create_topics(kafka_bootstrap, topics)
    events = sample_events(helpers.PLAN, 1500, seed=12)
    settings = helpers.settings_for(kafka_bootstrap, db, topics, AGGREGATOR_BATCH_SIZE=50)
    async with helpers.running(settings) as agg:
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events[:500])
        await helpers.wait_until(
            lambda: helpers.count(agg.engine, "SELECT count(*) FROM aggregator.recorded_events"), timeout=30
        )
        producing = asyncio.create_task(
            helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], events[500:])
        )
        await asyncio.to_thread(postgres_server.restart)
        await producing
        await _settled(agg, kafka_bootstrap, topics, 1500)
        assert agg.metrics.db_failures._value.get() >= 1, (
            "the restart never hit a batch: the test proved nothing"
        )
        assert await helpers.live_kpis(agg.engine) == helpers.recomputed_kpis(events, helpers.NOW)


async def test_two_replicas_through_rebalances(kafka_bootstrap, database_url):
    db = await helpers.fresh_database(database_url)
    topics = helpers.unique_topics("reb")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=6)
    events = sample_events(helpers.PLAN, 2400, seed=13)
    settings = helpers.settings_for(kafka_bootstrap, db, topics, AGGREGATOR_BATCH_SIZE=40)
    events_topic = topics["TIENDO_EVENTS_TOPIC"]
    async with helpers.running(settings) as first:
        await helpers.produce(kafka_bootstrap, events_topic, events[:800])
        await helpers.wait_until(
            lambda: helpers.count(first.engine, "SELECT count(*) FROM aggregator.recorded_events"), timeout=30
        )
        async with helpers.running(
            helpers.settings_for(kafka_bootstrap, db, topics, AGGREGATOR_BATCH_SIZE=40)
        ) as second:
            # a second replica joins (rebalance) while the first is mid-stream
            await helpers.produce(kafka_bootstrap, events_topic, events[800:1600])
            await helpers.wait_until(lambda: asyncio.sleep(0, second.consumer.batches > 0), timeout=30)
        # ... and leaves again (rebalance): the first takes its partitions back
        await helpers.produce(kafka_bootstrap, events_topic, events[1600:])
        await _settled(first, kafka_bootstrap, topics, 2400)
        assert second.consumer.batches > 0 and first.consumer.batches > 0
        assert await helpers.live_kpis(first.engine) == helpers.recomputed_kpis(events, helpers.NOW)
