"""Issue 14 on the notifier: a status record that keeps failing (`"actual": NaN`) is dead-lettered
after the attempts instead of retried every second for ever; the valid record behind it on the
same partition is handled; a handler whose database is away is still only retried; /readyz says
when the partition stalls."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import generate_latest

from services.notifier.bootstrap import bootstrap
from shared.clock import ManualClock
from shared.deadletter import read_dead_letter
from shared.events.codec import to_kafka
from shared.kafka import DAY_MS, TopicSpec, ensure_topics, make_consumer, make_producer
from shared.observability import _REGISTERED
from tests.notifier.conftest import eventually
from tests.notifier.helpers import T0, kpi_event, settings

pytestmark = pytest.mark.infra


async def _send(bootstrap_servers, topic, records) -> None:
    producer = make_producer(bootstrap_servers)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers, partition=0)
    finally:
        await producer.stop()


async def _letters(bootstrap_servers, topic, n: int, timeout: float = 20) -> list:
    consumer = make_consumer(bootstrap_servers, topic, group_id=f"reader-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    records: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < n and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records += batch
    finally:
        await consumer.stop()
    return records


@pytest.fixture
async def dlq_topic(kafka_bootstrap):
    name = f"test.notifier.dlq.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name, partitions=1, retention_ms=DAY_MS)])
    return name


@pytest.fixture
def notifier(notifier_db, kafka_bootstrap, smtp_server, status_topic, dlq_topic):
    """A notifier on the test's topics with its clock at T0: `notifier(poison_attempts=3)`."""

    def build(**overrides):
        base = settings(
            notifier_db, kafka_bootstrap, smtp_server.port, status_topic, dlq_topic=dlq_topic, **overrides
        )
        return bootstrap(base, clock=ManualClock(T0))

    return build


async def test_a_nan_status_event_is_dead_lettered_and_the_event_behind_it_handled(
    notifier, kafka_bootstrap, status_topic, dlq_topic
):
    c = notifier(poison_attempts=3)
    nan = to_kafka(kpi_event(agency="CA-TINH"))
    nan_value = nan.value.replace(b'"actual":41.0', b'"actual":NaN')
    assert nan_value != nan.value
    behind = to_kafka(kpi_event(agency="BDBP"))
    await _send(
        kafka_bootstrap,
        status_topic,
        [(nan.key, nan_value, nan.headers), (behind.key, behind.value, behind.headers)],
    )
    applied = []
    real = c.notifier.handle_many

    async def handle(events, now):
        result = await real(events, now)
        applied.extend(e.data.agency for e in events)
        return result

    c.notifier.handle_many = handle
    task = asyncio.create_task(c.consumer().run())
    try:
        await eventually(lambda: "BDBP" in applied, timeout=40)
        [letter] = await _letters(kafka_bootstrap, dlq_topic, 1)
        info = read_dead_letter(letter.headers)
        assert letter.value == nan_value and info.service == "notifier"
        assert (info.topic, info.partition, info.offset) == (status_topic, 0, 0)
        # the contract may refuse NaN up front (undecodable, 1 attempt); else the database refuses it 3 times
        assert (info.reason, info.attempts) in {("undecodable", 1), ("processing-failed", 3)}, info
        assert "CA-TINH" not in applied
        assert await _REGISTERED[c.registry]["consumer:notifier-status"]() is None
        assert (
            'tiendo_dlq_writes_total{reason="%s",service="notifier"} 1.0' % info.reason
            in generate_latest(c.registry).decode()
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await c.engine.dispose()


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_n_attempts_an_outage_never(
    notifier, kafka_bootstrap, status_topic, dlq_topic
):
    c = notifier(poison_attempts=4, stall_seconds=1.5)
    buggy, away, behind = (to_kafka(kpi_event(agency=a)) for a in ("CA-TINH", "HQ", "BDBP"))
    await _send(kafka_bootstrap, status_topic, [(r.key, r.value, r.headers) for r in (buggy, away, behind)])
    tries: dict[str, int] = {}
    database_back = asyncio.Event()
    real = c.notifier.handle_many

    async def handle(events, now):
        for event in events:
            agency = event.data.agency
            tries[agency] = tries.get(agency, 0) + 1
            if agency == "CA-TINH":
                raise ValueError("a bug this event trips")
            if agency == "HQ" and not database_back.is_set():
                raise ConnectionError("database away")
        return await real(events, now)

    c.notifier.handle_many = handle
    task = asyncio.create_task(c.consumer().run())
    check = _REGISTERED[c.registry]["consumer:notifier-status"]
    try:
        # HQ's record rolled back: not ready. Under load the stall may be reported first, before
        # CA-TINH's attempts are over and HQ's record is reached; the rollback is then added to it.
        problem = await eventually(lambda: _reported(check, "work rolled back"), timeout=30)
        assert "work rolled back" in problem and "database away" in problem
        # and its partition stalls
        problem = await eventually(lambda: _reported(check, "stalled"), timeout=30)
        assert f"{status_topic}/0" in problem
        # HQ's outage is read again, never dead-lettered; CA-TINH's bug: once in its batch, then
        # the 4 attempts alone, and never again once dead-lettered, though its batch is re-read
        await eventually(lambda: tries.get("HQ", 0) >= 3, timeout=30)
        assert tries["CA-TINH"] == 1 + 4 and "BDBP" not in tries
        database_back.set()
        await eventually(lambda: "BDBP" in tries, timeout=30)
        letters = await _letters(kafka_bootstrap, dlq_topic, 2, timeout=5)
        assert [dict(r.headers)["dlq_attempts"] for r in letters] == [b"4"]  # HQ's was never dead-lettered
        assert read_dead_letter(letters[0].headers).detail == "ValueError: a bug this event trips"
        await eventually(lambda: _none(check), timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await c.engine.dispose()


async def _none(check) -> bool:
    return await check() is None


async def _reported(check, words: str) -> str | None:
    problem = await check()
    return problem if problem and words in problem else None


async def test_a_table_gone_missing_is_an_outage_never_a_reason_to_dead_letter(
    notifier, kafka_bootstrap, status_topic, dlq_topic
):
    """The database answers but fails every record alike (SQLSTATE 42P01, the inbox renamed away):
    the record is retried until the table is back, never dead-lettered."""
    from sqlalchemy import text

    c = notifier(poison_attempts=2, stall_seconds=1.0)
    event = to_kafka(kpi_event(agency="CA-TINH"))
    async with c.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE notifier.inbox RENAME TO inbox_away"))
    await _send(kafka_bootstrap, status_topic, [(event.key, event.value, event.headers)])
    task = asyncio.create_task(c.consumer().run())
    check = _REGISTERED[c.registry]["consumer:notifier-status"]
    try:
        # the record waits: it stalls
        problem = await eventually(lambda: _reported(check, "stalled"), timeout=30)
        assert "inbox" in problem  # the outage's cause, beside the stall
        await asyncio.sleep(3)  # well past two attempts' worth of retries
        async with c.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE notifier.inbox_away RENAME TO inbox"))

        async def applied() -> bool:
            async with c.engine.connect() as conn:
                return bool(await conn.scalar(text("SELECT count(*) FROM notifier.inbox")))

        await eventually(applied, timeout=30)
        assert await _letters(kafka_bootstrap, dlq_topic, 1, timeout=3) == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await c.engine.dispose()
