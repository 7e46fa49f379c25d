"""Absence is an event: when a deadline passes without `report.submitted`, the scheduled check
(driven by a clock the test moves) records the report as missing and emits that."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from services.aggregator.adapters.tables import reports
from shared.clock import ManualClock
from shared.events.models import ReportStatus, ReportStatusChangedEvent
from tests.aggregator import helpers

pytestmark = pytest.mark.infra
VN = timezone(timedelta(hours=7))


async def test_a_passed_deadline_makes_the_report_missing_and_says_so(kafka_bootstrap, module_db):
    topics = helpers.unique_topics("dl")
    await helpers.create_topics(kafka_bootstrap, topics)
    clock = ManualClock(datetime(2024, 6, 17, 12, 0, tzinfo=VN))  # HQ's June deadline: 17 June, end of day
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics, AGGREGATOR_DEADLINE_CHECK_SECONDS=0.2)
    async with helpers.running(settings, clock=clock) as agg:

        async def june(expected: str):
            async with agg.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(reports.c.status).where(
                            reports.c.agency == "HQ", reports.c.period == "2024-06"
                        )
                    )
                ).first()
            return row is not None and row.status == expected

        await helpers.wait_until(lambda: june("pending"), timeout=30)
        clock.set(datetime(2024, 6, 18, 0, 5, tzinfo=VN))
        await helpers.wait_until(lambda: june("missing"), timeout=30)

        def missing(events):
            return [
                e
                for e in events
                if isinstance(e, ReportStatusChangedEvent)
                and e.data.agency == "HQ"
                and e.data.period == "2024-06"
            ]

        events = missing(
            await helpers.consume_all(
                kafka_bootstrap, topics["TIENDO_STATUS_TOPIC"], until=lambda es: bool(missing(es))
            )
        )
    assert len(events) == 1
    assert events[0].data.status == ReportStatus.MISSING
    assert events[0].data.previous_status == ReportStatus.PENDING
    assert events[0].data.deadline.date().isoformat() == "2024-06-17"


async def test_a_submission_re_judges_every_kpi_of_its_agency_at_once(kafka_bootstrap, module_db):
    """A report in before its deadline moves the agency's data cut-off, hence the pace of KPIs no
    event touched: the live projection must equal a rebuild without waiting for the periodic check."""
    from services.aggregator.adapters.rebuild import rebuild

    topics = helpers.unique_topics("cut")
    await helpers.create_topics(kafka_bootstrap, topics)
    now = datetime(2024, 6, 16, 12, 0, tzinfo=VN)  # CA-TINH's June report (cut-off 14 June) is due 17 June
    settings = helpers.settings_for(
        kafka_bootstrap, module_db, topics, AGGREGATOR_DEADLINE_CHECK_SECONDS=3600
    )
    topic = topics["TIENDO_EVENTS_TOPIC"]
    async with helpers.running(settings, clock=ManualClock(now)) as agg:
        await helpers.produce(
            kafka_bootstrap,
            topic,
            [
                helpers.reported(
                    "CA-TINH", "drug_cases_detected", "2024", 50, time=datetime(2024, 6, 10, tzinfo=VN)
                )
            ],
        )
        await helpers.until_caught_up(kafka_bootstrap, topics)
        await helpers.produce(
            kafka_bootstrap,
            topic,
            [
                helpers.event(
                    "CA-TINH",
                    "report.submitted",
                    {"period": "2024-06"},
                    time=datetime(2024, 6, 15, 9, tzinfo=VN),
                )
            ],
        )
        await helpers.until_caught_up(kafka_bootstrap, topics)
        compared = await rebuild(agg.engine, kafka_bootstrap, topic, helpers.PLAN, now, swap=False)
    assert compared.events == 2 and compared.equal, (compared.rebuilt_checksum, compared.live_checksum)
