"""A lagging KPI on the status topic → an alert → a queued digest → a Vietnamese email in the mailbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.notifier.adapters.tables import alerts, outbox
from services.notifier.bootstrap import bootstrap
from shared.clock import ManualClock
from shared.events.codec import to_kafka
from shared.kafka import make_producer
from tests.notifier.conftest import eventually
from tests.notifier.helpers import T0, Inbox, kpi_event, settings

pytestmark = pytest.mark.infra


async def test_lagging_kpi_reaches_the_leader_in_vietnamese(
    notifier_db, kafka_bootstrap, smtp_server, status_topic
):
    container = bootstrap(
        settings(notifier_db, kafka_bootstrap, smtp_server.port, status_topic), clock=ManualClock(T0)
    )
    inbox = Inbox(smtp_server)
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        record = to_kafka(kpi_event(agency="CA-TINH", indicator="drug_cases_detected", period="2024-06"))
        await producer.send_and_wait(status_topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()

    consumer = container.consumer()
    await consumer.start()
    try:
        await eventually(lambda: container.metrics.status_events.labels("applied")._value.get(), timeout=30)
    finally:
        await consumer.stop()

    async with container.engine.connect() as conn:
        recorded = (await conn.execute(select(alerts))).all()
        queued = (await conn.execute(select(outbox))).all()
    assert [(a.kind, a.agency, a.state) for a in recorded] == [("lagging", "CA-TINH", "firing")]
    # Queued in the same transaction, to the agency's leader only (no escalation yet).
    assert [(q.recipient, q.status) for q in queued] == [("pc04.congan@quangtri.example", "queued")]

    assert await container.sender.run_once() == 1
    smtp_server.wait_for(len(inbox.before) + 1, timeout=10)
    [message] = inbox.messages()
    assert message["To"].addresses[0].addr_spec == "pc04.congan@quangtri.example"
    assert message["Subject"] == "[Tiendo] 1 chỉ tiêu chậm tiến độ — Công an tỉnh Quảng Trị — Tháng 6/2024"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Số vụ phạm tội về ma túy được phát hiện, bắt giữ" in text
    assert "Kính gửi đồng chí Nguyễn Hữu Cường" in text and "Nguyễn Hữu Cường" in html
    assert "http://notifier.test/ack/" in text
    await container.engine.dispose()
