"""Issue 14 on the aggregator: a record nothing can store is dead-lettered once (its letter can
always be stored and relayed), a crashing consumer is restarted while /readyz says so, a stalled
partition shows on /readyz and in the metrics, and a rebuild skips poison and reports it."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import generate_latest

from services.aggregator.adapters.rebuild import rebuild
from services.aggregator.entrypoints import consumer as consumer_module
from shared.deadletter import read_dead_letter
from shared.events.codec import to_kafka
from tests.aggregator import helpers

pytestmark = pytest.mark.infra
APPLIED = "SELECT count(*) FROM aggregator.recorded_events WHERE rejected IS NULL"


def _raw(event, **changes) -> tuple:
    """`event` as intake writes it, with some header values replaced by raw bytes."""
    record = to_kafka(event)
    return record.key, record.value, [(n, changes.get(n, v)) for n, v in record.headers]


async def test_a_nul_in_ce_id_is_dead_lettered_once_and_the_record_behind_it_counted(
    kafka_bootstrap, module_db
):
    topics = helpers.unique_topics("nul")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=1)
    before = helpers.reported("CA-TINH", "drug_cases_detected", "2024", 1, id="before-nul")
    after = helpers.reported("CA-TINH", "drug_cases_detected", "2024", 2, id="after-nul")
    bad = _raw(helpers.reported("CA-TINH", "drug_cases_detected", "2024", 7), ce_id=b"nul\x00id\xff")
    async with helpers.running(helpers.settings_for(kafka_bootstrap, module_db, topics)) as agg:
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [before])
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [], raw=[bad])
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [after])
        await helpers.until_caught_up(kafka_bootstrap, topics, timeout=40)
        dead = await helpers.consume_all(
            kafka_bootstrap,
            topics["TIENDO_DLQ_TOPIC"],
            decode=False,
            until=lambda rs: len(rs) >= 1,
            timeout=10,
        )
        assert len(dead) == 1
        letter = read_dead_letter(dead[0].headers)
        assert dict(letter.headers)["ce_id"] == b"nul\x00id\xff"  # the original bytes, relayed as they were
        assert dead[0].value == bad[1] and dead[0].key == b"CA-TINH"
        assert letter.service == "aggregator" and letter.reason in {
            "processing-failed",
            "rejected",
            "invalid-event",
            "undecodable",
        }
        assert (letter.topic, letter.partition, letter.offset) == (topics["TIENDO_EVENTS_TOPIC"], 0, 1)
        assert await helpers.count(agg.engine, APPLIED) == 2
        assert agg.metrics.db_failures._value.get() == 0  # no batch rolled back over and over
        assert (
            'tiendo_dlq_writes_total{reason="%s",service="aggregator"} 1.0' % letter.reason
            in generate_latest(agg.registry).decode()
        )


async def test_a_crashing_consumer_is_restarted_and_readyz_says_so_meanwhile(
    kafka_bootstrap, module_db, monkeypatch
):
    from services.aggregator.bootstrap import bootstrap
    from services.aggregator.entrypoints.app import create_app
    from shared.clock import ManualClock

    real, crashes = consumer_module.EventConsumer._fetch, []

    async def crashing(self, consumer, applying):
        if len(crashes) < 2:
            crashes.append(1)
            raise OverflowError("date value out of range")
        return await real(self, consumer, applying)

    monkeypatch.setattr(consumer_module.EventConsumer, "_fetch", crashing)

    topics = helpers.unique_topics("crashy")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=1)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics, AGGREGATOR_RUN_RELAY=False)
    agg = bootstrap(settings, clock=ManualClock(helpers.NOW), plan=helpers.PLAN)
    app = create_app(agg)
    await helpers.produce(
        kafka_bootstrap,
        topics["TIENDO_EVENTS_TOPIC"],
        [helpers.reported("CA-TINH", "drug_cases_detected", "2024", 3, id="after-crash")],
    )
    seen = []
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as api:

            async def ready():
                response = await api.get("/readyz")
                seen.append((response.status_code, response.json()["problems"]))
                return response.status_code == 200 and len(crashes) == 2

            await helpers.wait_until(ready, timeout=30, every=0.2)
            await helpers.until_caught_up(kafka_bootstrap, topics, timeout=30)
            metrics = (await api.get("/metrics/")).text
    down = [problems for status, problems in seen if status == 503]
    assert down and "restarting" in down[0]["consumer:aggregator-events"], seen
    assert "OverflowError" in down[0]["consumer:aggregator-events"]
    assert 'tiendo_consumer_restarts_total{consumer="aggregator-events"} 2.0' in metrics
    assert 'tiendo_consumer_up{consumer="aggregator-events"} 1.0' in metrics
    assert (
        await helpers.count(
            agg.engine, "SELECT count(*) FROM aggregator.recorded_events WHERE id = 'after-crash'"
        )
        == 1
    )


async def test_a_stalled_partition_shows_on_readyz_and_in_the_metrics(kafka_bootstrap, module_db):
    from shared.observability import _REGISTERED

    topics = helpers.unique_topics("stall")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=1)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics, TIENDO_STALL_SECONDS=2)
    async with helpers.running(settings, relay=False) as agg:
        real = agg.projector.apply

        async def database_away(items, now, reevaluate=()):
            raise ConnectionError("database away")  # an outage: retried, never dead-lettered

        agg.projector.apply = database_away
        await helpers.produce(
            kafka_bootstrap,
            topics["TIENDO_EVENTS_TOPIC"],
            [helpers.reported("CA-TINH", "drug_cases_detected", "2024", 4, id="waits")],
        )
        check = _REGISTERED[agg.registry]["consumer:aggregator-events"]

        async def stalled():
            problem = await check()
            return problem if problem and "stalled" in problem else None

        problem = await helpers.wait_until(stalled, timeout=20, every=0.2)
        assert f"{topics['TIENDO_EVENTS_TOPIC']}/0" in problem and "database away" in problem
        assert (
            'tiendo_consumer_stalled_partitions{consumer="aggregator-events"} 1.0'
            in generate_latest(agg.registry).decode()
        )
        agg.projector.apply = real

        async def healthy():
            return await check() is None

        await helpers.wait_until(healthy, timeout=20, every=0.2)
        assert (
            await helpers.count(
                agg.engine, "SELECT count(*) FROM aggregator.recorded_events WHERE id = 'waits'"
            )
            == 1
        )


async def test_rebuild_skips_poison_and_reports_where_it_was(kafka_bootstrap, database_url, monkeypatch):
    helpers.plant_a_ledger_bug(monkeypatch)

    db = await helpers.fresh_database(database_url)
    topics = helpers.unique_topics("rebp")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=1)
    good = [helpers.reported("CA-TINH", "drug_cases_detected", "2024", v, id=f"ok-{v}") for v in range(1, 4)]
    year_one = _raw(
        helpers.reported("CA-TINH", "drug_cases_detected", "2024", 5), ce_time=b"0001-01-01T00:00:00+01:00"
    )
    nul = _raw(helpers.reported("CA-TINH", "drug_cases_detected", "2024", 6), ce_id=b"nul\x00")
    bug = helpers.reported("CA-TINH", "drug_cases_detected", "2024", 99, id=helpers.BUGGY_FACT)
    async with helpers.running(helpers.settings_for(kafka_bootstrap, db, topics)) as agg:
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], good[:1])
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [bug], raw=[year_one, nul])
        await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], good[1:])
        await helpers.until_caught_up(kafka_bootstrap, topics)
        assert await helpers.count(agg.engine, APPLIED) == 3
        result = await rebuild(
            agg.engine, kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], helpers.PLAN, helpers.NOW, swap=False
        )
    events = topics["TIENDO_EVENTS_TOPIC"]
    assert result.events == 6 and sorted(result.poison) == [f"{events}/0/1", f"{events}/0/2", f"{events}/0/3"]
    # the same facts and the same dead letters as the live consumer recorded (its KPIs are only those touched)
    assert result.rebuilt_checksum.split("|")[0] == result.live_checksum.split("|")[0]


async def test_a_table_gone_missing_is_waited_out_never_a_reason_to_dead_letter(kafka_bootstrap, module_db):
    """A database that answers but fails every record alike (a table renamed away: SQLSTATE 42P01)
    is an outage too: the batch is retried until the table is back, and no good event is
    dead-lettered for it."""
    from sqlalchemy import text

    topics = helpers.unique_topics("gone")
    await helpers.create_topics(kafka_bootstrap, topics, partitions=1)
    async with helpers.running(helpers.settings_for(kafka_bootstrap, module_db, topics), relay=False) as agg:
        async with agg.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE aggregator.recorded_events RENAME TO recorded_events_away"))
        try:
            await helpers.produce(
                kafka_bootstrap,
                topics["TIENDO_EVENTS_TOPIC"],
                [helpers.reported("CA-TINH", "drug_cases_detected", "2024", 4, id="table-away")],
            )
            await helpers.wait_until(
                lambda: _true_if(agg.metrics.db_failures._value.get() >= 3), timeout=30, every=0.2
            )
        finally:
            async with agg.engine.begin() as conn:
                await conn.execute(
                    text("ALTER TABLE aggregator.recorded_events_away RENAME TO recorded_events")
                )
        await helpers.until_caught_up(kafka_bootstrap, topics, timeout=40)
        assert await helpers.count(agg.engine, f"{APPLIED} AND id = 'table-away'") == 1
        dead = f"SELECT count(*) FROM aggregator.outbox WHERE topic = '{topics['TIENDO_DLQ_TOPIC']}'"
        assert await helpers.count(agg.engine, dead) == 0  # no dead letter queued
        assert "tiendo_dlq_writes_total{" not in generate_latest(agg.registry).decode()


async def _true_if(value: bool) -> bool:
    return value
