"""Delivery proofs on real PostgreSQL, Kafka and SMTP: nothing lost, at most one duplicate."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.notifier.adapters.tables import alerts, inbox, outbox
from services.notifier.bootstrap import bootstrap
from shared.clock import ManualClock
from shared.events.codec import KafkaRecord, to_kafka
from shared.infra._process import REPO_ROOT
from shared.kafka import make_producer
from tests.notifier.conftest import eventually
from tests.notifier.helpers import SECRET, T0, Inbox, empty_tables, kpi_event, settings

pytestmark = pytest.mark.infra


@pytest.fixture
async def container(notifier_db, kafka_bootstrap, smtp_server):
    c = bootstrap(
        settings(notifier_db, kafka_bootstrap, smtp_server.port, send_lease=timedelta(seconds=1)),
        clock=ManualClock(T0),
    )
    await empty_tables(c.engine)  # each test starts from an empty schema
    yield c
    smtp_server.set_rejecting(False)
    await c.engine.dispose()


async def outbox_rows(c):
    async with c.engine.connect() as conn:
        return (await conn.execute(select(outbox).order_by(outbox.c.id))).all()


async def produce(bootstrap, topic, records):
    """All on partition 0, so they are consumed in this order."""
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(topic, r.value, key=r.key, headers=r.headers, partition=0)
    finally:
        await producer.stop()


def consumed(c, *outcomes):
    """How many status events the notifier counted under these outcomes (applied, duplicate, ...)."""
    return sum(c.metrics.status_events.labels(o)._value.get() for o in outcomes)


async def consume(c, topic, until):
    """Run the notifier's status consumer on `topic` until `until()` holds."""
    c.settings.status_topic = topic
    consumer = c.consumer()
    await consumer.start()
    try:
        await eventually(until, timeout=30)
    finally:
        await consumer.stop()


async def queue_one(c, agency="CA-TINH"):
    assert await c.notifier.handle(kpi_event(agency=agency), T0)
    [row] = await outbox_rows(c)
    return row


async def test_smtp_rejecting_with_451_then_back_delivers_exactly_once(container, smtp_server):
    mail = Inbox(smtp_server)
    row = await queue_one(container)
    smtp_server.set_rejecting(True)
    for _ in range(3):
        await asyncio.sleep(0.25)  # past the (tiny) backoff
        assert await container.sender.run_once() == 0
    [retrying] = await outbox_rows(container)
    assert retrying.status == "queued" and retrying.attempts >= 2 and "451" in retrying.last_error
    smtp_server.set_rejecting(False)
    await eventually(container.sender.run_once, timeout=10)
    assert [m["Message-ID"] for m in mail.messages()] == [row.message_id]
    assert container.metrics.retried._value.get() >= 2 and container.metrics.sent._value.get() == 1
    assert await container.sender.run_once() == 0  # sent is sent


async def test_smtp_down_then_back_delivers_exactly_once(container, smtp_server):
    mail = Inbox(smtp_server)
    row = await queue_one(container)
    smtp_server.stop()
    try:
        assert await container.sender.run_once() == 0
        await asyncio.sleep(0.3)
        assert await container.sender.run_once() == 0
        [waiting] = await outbox_rows(container)
        assert waiting.status == "queued" and waiting.attempts == 2
    finally:
        smtp_server.start()
    await eventually(container.sender.run_once, timeout=10)
    assert [m["Message-ID"] for m in mail.messages()] == [row.message_id]


async def test_the_same_status_event_twice_makes_one_alert_and_one_email(
    container, kafka_bootstrap, status_topic
):
    event = kpi_event()
    same_fact_new_id = kpi_event()  # a replaying aggregator: same fact, another event id
    await produce(kafka_bootstrap, status_topic, [to_kafka(e) for e in (event, event, same_fact_new_id)])
    await consume(container, status_topic, until=lambda: consumed(container, "applied", "duplicate") >= 3)
    async with container.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(alerts)) == 1
        assert await conn.scalar(select(func.count()).select_from(inbox)) == 2
    assert len(await outbox_rows(container)) == 1
    assert container.metrics.status_events.labels("duplicate")._value.get() == 1


def _crash(stage: str, notifier_db: str, smtp_port: int) -> int:
    env = {
        **os.environ,
        "DATABASE_URL": notifier_db,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "NOTIFIER_ACK_SECRET": SECRET,
        "NOTIFIER_SEND_LEASE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.notifier.integration.crashing_sender", stage],
        cwd=REPO_ROOT,
        env=env,
        timeout=60,
        capture_output=True,
    )
    return proc.returncode


@pytest.mark.parametrize("stage, copies", [("claimed", 1), ("sent", 2)])
async def test_kill_9_of_the_sender_loses_nothing_and_duplicates_at_most_once(
    container, smtp_server, notifier_db, stage, copies
):
    mail = Inbox(smtp_server)
    row = await queue_one(container)
    assert await asyncio.to_thread(_crash, stage, notifier_db, smtp_server.port) == -9
    [claimed] = await outbox_rows(container)
    assert claimed.status == "sending"  # the dead process held the claim
    assert len(mail.messages()) == copies - 1
    assert await container.sender.run_once() == 0  # the lease (1 s) has not run out yet
    await asyncio.sleep(1.1)
    assert await container.sender.run_once() == 1  # taken over after the lease
    [done] = await outbox_rows(container)
    assert done.status == "sent" and done.attempts == 2
    assert [m["Message-ID"] for m in mail.messages()] == [row.message_id] * copies


async def test_while_smtp_is_down_a_batch_is_given_back_after_one_failed_attempt(container, smtp_server):
    mail = Inbox(smtp_server)
    for agency in ("CA-TINH", "BDBP", "HQ"):
        assert await container.notifier.handle(kpi_event(agency=agency), T0)
    smtp_server.set_rejecting(True)
    assert await container.sender.run_once() == 0
    rows = await outbox_rows(container)
    assert [r.status for r in rows] == ["queued"] * 3
    assert sorted(r.attempts for r in rows) == [0, 0, 1]  # one tried, two given back untried
    smtp_server.set_rejecting(False)
    await eventually(lambda: _all_sent(container), timeout=10)
    assert len(mail.messages()) == 3


async def _all_sent(c) -> bool:
    await c.sender.run_once()
    return all(r.status == "sent" for r in await outbox_rows(c))


async def test_an_undecodable_record_is_skipped_and_the_next_one_applied(
    container, kafka_bootstrap, status_topic
):
    poison = KafkaRecord(
        b"CA-TINH",
        b"{not json",
        [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_source", b"/s"),
            ("ce_type", b"vn.gov.pcmt.kpi.status_changed.v1"),
        ],
    )
    await produce(kafka_bootstrap, status_topic, [poison, to_kafka(kpi_event())])
    await consume(container, status_topic, until=lambda: consumed(container, "applied", "undecodable") >= 2)
    async with container.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(alerts)) == 1
    assert container.metrics.status_events.labels("undecodable")._value.get() == 1


async def test_a_failing_transaction_rewinds_the_consumer_so_nothing_is_skipped(
    container, kafka_bootstrap, status_topic
):
    await produce(kafka_bootstrap, status_topic, [to_kafka(kpi_event(agency=a)) for a in ("CA-TINH", "BDBP")])
    real, calls = container.notifier.handle_many, []

    async def flaky(events, now):  # the database "goes away" for the first attempt
        calls.append([e.data.agency for e in events])
        if len(calls) == 1:
            raise ConnectionError("database unavailable")
        return await real(events, now)

    container.notifier.handle_many = flaky
    await consume(container, status_topic, until=lambda: consumed(container, "applied") >= 2)
    # the failed batch is read again from its first record: nothing is skipped
    assert calls[0][0] == calls[1][0] == "CA-TINH" and [a for call in calls[1:] for a in call] == [
        "CA-TINH",
        "BDBP",
    ]
    async with container.engine.connect() as conn:
        assert sorted(r.agency for r in await conn.execute(select(alerts.c.agency))) == ["BDBP", "CA-TINH"]


class _AwayAfterSending:
    """The sender's engine, with the database away for a few attempts once an email is sent."""

    def __init__(self, engine, failures: int) -> None:
        self.engine, self.failures, self.away = engine, failures, False

    def begin(self):
        if self.away and self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("the database is restarting")
        return self.engine.begin()


async def test_the_database_away_right_after_sending_neither_loses_nor_resends_the_email(
    container, smtp_server
):
    mail = Inbox(smtp_server)
    row = await queue_one(container)
    flaky = _AwayAfterSending(container.engine, failures=3)
    container.sender.outbox.engine = flaky  # the sender's outbox (SqlOutbox) on the flaky engine
    container.sender.checkpoint = lambda stage, item_id: setattr(flaky, "away", stage == "sent")
    assert await container.sender.run_once() == 1  # recorded once the database answered again
    assert flaky.failures == 0
    [sent] = await outbox_rows(container)
    assert sent.status == "sent"
    await asyncio.sleep(1.1)  # past the lease: a claim left "sending" would be taken and sent again
    assert await container.sender.run_once() == 0
    assert [m["Message-ID"] for m in mail.messages()] == [row.message_id]
