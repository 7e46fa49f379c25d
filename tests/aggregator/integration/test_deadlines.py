"""Absence is an event: when a deadline passes without `report.submitted`, the scheduled check
(driven by a clock the test moves) records the report as missing and emits that."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from shared.clock import ManualClock
from shared.events.models import ReportStatus, ReportStatusChangedEvent

from services.aggregator.adapters.tables import reports
from tests.aggregator.helpers import consume_all, create_topics, running, settings_for, unique_topics, wait_until

pytestmark = pytest.mark.infra
VN = timezone(timedelta(hours=7))


async def test_a_passed_deadline_makes_the_report_missing_and_says_so(kafka_bootstrap, module_db):
    topics = unique_topics("dl")
    await create_topics(kafka_bootstrap, topics)
    clock = ManualClock(datetime(2024, 6, 17, 12, 0, tzinfo=VN))  # HQ's June deadline: 17 June, end of day
    settings = settings_for(kafka_bootstrap, module_db, topics, AGGREGATOR_DEADLINE_CHECK_SECONDS=0.2)
    async with running(settings, clock=clock) as agg:
        async def june(expected: str):
            async with agg.engine.connect() as conn:
                row = (await conn.execute(select(reports.c.status).where(
                    reports.c.agency == "HQ", reports.c.period == "2024-06"))).first()
            return row is not None and row.status == expected
        await wait_until(lambda: june("pending"), timeout=30)
        clock.set(datetime(2024, 6, 18, 0, 5, tzinfo=VN))
        await wait_until(lambda: june("missing"), timeout=30)

        def missing(events):
            return [e for e in events if isinstance(e, ReportStatusChangedEvent) and e.data.agency == "HQ"
                    and e.data.period == "2024-06"]
        events = missing(await consume_all(kafka_bootstrap, topics["TIENDO_STATUS_TOPIC"],
                                           until=lambda es: bool(missing(es))))
    assert len(events) == 1
    assert events[0].data.status == ReportStatus.MISSING
    assert events[0].data.previous_status == ReportStatus.PENDING
    assert events[0].data.deadline.date().isoformat() == "2024-06-17"
