"""The status topic's FastStream subscriber on real Kafka and PostgreSQL: the group's offset moves
only past records whose transaction committed (or that were skipped as undecodable), and a
handler that keeps failing is retried at the broker's back-off, not in a tight loop."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from sqlalchemy import func, select

from services.notifier.adapters.tables import inbox
from services.notifier.bootstrap import bootstrap
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

    real, attempts, healthy = c.notifier.handle, [], asyncio.Event()

    async def database_down_for_bdbp(event, now):
        if event.data.agency == "BDBP" and not healthy.is_set():
            attempts.append(asyncio.get_running_loop().time())
            raise ConnectionError("database unavailable")
        return await real(event, now)

    c.notifier.handle = database_down_for_bdbp
    consumer = c.consumer()
    await consumer.start()
    try:
        await eventually(lambda: len(attempts) >= 2, timeout=30)
        await asyncio.sleep(2.5)
        # The garbage record and CA-TINH's are committed; BDBP's (offset 2) is not while it fails.
        assert await committed(c) == 2
        spacing = [b - a for a, b in zip(attempts, attempts[1:])]
        assert 2 <= len(attempts) <= 5 and min(spacing) >= 0.9, spacing  # make_broker's 1 s back-off
        healthy.set()
        await eventually(lambda: _is(committed(c), 3), timeout=30)
    finally:
        await consumer.stop()
    async with c.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(inbox)) == 2
    assert c.metrics.status_events.labels("undecodable")._value.get() == 1
    await c.engine.dispose()


async def _is(coro, expected) -> bool:
    return await coro == expected
