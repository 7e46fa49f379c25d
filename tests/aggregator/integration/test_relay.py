"""The outbox relay on real PostgreSQL and Kafka, publishing through the FastStream broker of
`shared.kafka.make_broker`: rows leave in order as binary-mode CloudEvents, are deleted only once
Kafka acknowledged them, and stay (to be sent again) when Kafka does not."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import generate_latest
from sqlalchemy import func, select

from services.aggregator.adapters.repository import enqueue
from services.aggregator.adapters.tables import outbox
from services.aggregator.bootstrap import bootstrap
from shared.events.codec import KafkaRecord, to_kafka
from shared.events.models import KpiStatusChangedEvent
from tests.aggregator.helpers import NOW, PLAN, consume_all, create_topics, settings_for, unique_topics
from tests.notifier.helpers import kpi_event

pytestmark = pytest.mark.infra


def status(i: int) -> KpiStatusChangedEvent:
    return kpi_event(event_id=f"relay-{i}", previous=None, actual=i, as_of=NOW, deadline=NOW)


async def backlog(agg) -> int:
    async with agg.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(outbox))


async def test_rows_leave_in_order_with_their_headers_and_are_deleted_after_the_ack(
    module_db, kafka_bootstrap
):
    topics = unique_topics("relay")
    await create_topics(kafka_bootstrap, topics, partitions=1)
    agg = bootstrap(settings_for(kafka_bootstrap, module_db, topics), plan=PLAN)
    records = [to_kafka(status(i), key="CA-TINH") for i in range(20)]
    letter = KafkaRecord(
        key=None, value=b"\x00poison", headers=[("dlq_reason", "không giải mã được".encode())]
    )
    async with agg.engine.begin() as conn:
        await enqueue(conn, topics["TIENDO_STATUS_TOPIC"], records, NOW)
        await enqueue(conn, topics["TIENDO_DLQ_TOPIC"], [letter], NOW)
    stop = asyncio.Event()
    task = asyncio.create_task(agg.relay.run(stop))
    try:
        sent = await consume_all(
            kafka_bootstrap, topics["TIENDO_STATUS_TOPIC"], decode=False, until=lambda rs: len(rs) >= 20
        )
        [dead] = await consume_all(
            kafka_bootstrap, topics["TIENDO_DLQ_TOPIC"], decode=False, until=lambda rs: len(rs) >= 1
        )
        for _ in range(50):
            if not await backlog(agg):
                break
            await asyncio.sleep(0.1)
        assert await backlog(agg) == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert [dict(r.headers)["ce_id"] for r in sent] == [f"relay-{i}".encode() for i in range(20)]  # in order
    for record, original in zip(sent, records):
        assert record.value == original.value and record.key == b"CA-TINH"
        assert set(original.headers) <= set(record.headers)  # plus FastStream's correlation_id (= ce_id)
        assert dict(record.headers)["correlation_id"] == dict(original.headers)["ce_id"]
    assert dead.value == b"\x00poison" and dict(dead.headers)["dlq_reason"] == "không giải mã được".encode()
    metrics = generate_latest(agg.registry).decode()
    assert (
        f'faststream_published_messages_total{{app_name="aggregator",broker="kafka",'
        f'destination="{topics["TIENDO_STATUS_TOPIC"]}",status="success"}} 20.0'
    ) in metrics
    await agg.engine.dispose()


async def test_rows_stay_in_the_outbox_while_kafka_does_not_acknowledge(module_db, kafka_bootstrap):
    topics = unique_topics("relay")
    await create_topics(kafka_bootstrap, topics, partitions=1)
    agg = bootstrap(settings_for(kafka_bootstrap, module_db, topics), plan=PLAN)
    async with agg.engine.begin() as conn:
        await conn.execute(outbox.delete())
        await enqueue(conn, "relay-no-such-topic", [to_kafka(status(0), key="CA-TINH")], NOW)
    await agg.relay.broker.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 (any Kafka error) the topic does not exist (never auto-created): no acknowledgement
            await asyncio.wait_for(agg.relay.relay_once(), 15)
        assert await backlog(agg) == 1  # rolled back: sent again once Kafka acknowledges
    finally:
        await agg.relay.broker.stop()
        async with agg.engine.begin() as conn:
            await conn.execute(outbox.delete())
        await agg.engine.dispose()
