"""The status topic's FastStream subscriber on real Kafka and PostgreSQL: the group's offset moves
only past records whose transaction committed (or that were skipped as undecodable), and a
handler that keeps failing is retried at the broker's back-off, not in a tight loop."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from sqlalchemy import select

from services.notifier.adapters.tables import inbox
from services.notifier.bootstrap import bootstrap
from services.notifier.service_layer.notifier import DEAD_LETTERED
from shared.clock import ManualClock
from shared.events.codec import to_kafka
from shared.kafka import committed_offsets, make_producer
from tests.notifier.conftest import eventually
from tests.notifier.helpers import T0, kpi_event, settings

pytestmark = pytest.mark.infra


async def committed(c) -> int | None:
    offsets = await committed_offsets(c.settings.kafka_bootstrap_servers, c.settings.consumer_group)
    return offsets.get(TopicPartition(c.settings.status_topic, 0))


async def test_offsets_follow_the_database_and_a_failing_handler_backs_off(
    notifier_db, kafka_bootstrap, smtp_server, status_topic
):
    c = bootstrap(
        settings(notifier_db, kafka_bootstrap, smtp_server.port, status_topic), clock=ManualClock(T0)
    )
    first, second = to_kafka(kpi_event(agency="CA-TINH")), to_kafka(kpi_event(agency="BDBP"))
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(
        status_topic,
        b"\x00garbage",
        key=b"CA-TINH",
        partition=0,
        headers=[("ce_id", b"\xff\xfe not utf-8"), ("ce_type", None)],
    )
    for record in (first, second):
        await producer.send_and_wait(
            status_topic, record.value, key=record.key, headers=record.headers, partition=0
        )
    await producer.stop()

    real, attempts, healthy = c.notifier.handle_many, [], asyncio.Event()

    async def database_down_for_bdbp(events, now):
        if any(e.data.agency == "BDBP" for e in events) and not healthy.is_set():
            attempts.append(asyncio.get_running_loop().time())
            raise ConnectionError("database unavailable")
        return await real(events, now)

    c.notifier.handle_many = database_down_for_bdbp
    consumer = c.consumer()
    await consumer.start()
    try:
        await eventually(lambda: len(attempts) >= 2, timeout=30)
        await asyncio.sleep(2.5)
        # Nothing from BDBP's record (offset 2) on is committed while it fails (a batch that
        # holds it waits whole: the garbage record and CA-TINH's may be held back with it).
        assert (await committed(c) or 0) <= 2
        spacing = [b - a for a, b in zip(attempts, attempts[1:])]
        assert 2 <= len(attempts) <= 5 and min(spacing) >= 0.9, spacing  # make_broker's 1 s back-off
        healthy.set()
        await eventually(lambda: _is(committed(c), 3), timeout=30)
    finally:
        await consumer.stop()
    async with c.engine.connect() as conn:
        rows = (await conn.execute(select(inbox.c.source, inbox.c.id))).all()
    # Both events once, and the garbage record's position once: a batch read again after the
    # outage does not letter it a second time.
    assert sorted(source for source, _ in rows) == [
        "/services/aggregator",
        "/services/aggregator",
        DEAD_LETTERED,
    ], rows
    assert [i for source, i in rows if source == DEAD_LETTERED] == [f"{status_topic}/0/0"], rows
    assert c.metrics.status_events.labels("undecodable")._value.get() == 1
    await c.engine.dispose()


async def _is(coro, expected) -> bool:
    return await coro == expected
