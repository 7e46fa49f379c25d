"""An indicator report on the events topic becomes a KPI row and a status event for the notifier."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.aggregator.adapters.tables import kpis
from shared.events.codec import decode_status_event
from shared.events.models import KpiStatus, KpiStatusChangedEvent
from shared.events.types import EventType
from tests.aggregator import helpers

pytestmark = pytest.mark.infra


async def test_report_becomes_kpi_and_status_event(kafka_bootstrap, module_db):
    topics = helpers.unique_topics("skel")
    await helpers.create_topics(kafka_bootstrap, topics)
    settings = helpers.settings_for(kafka_bootstrap, module_db, topics)
    async with helpers.running(settings) as agg:
        # 182 * 1.05 = 191.1, a target of 192 whole cases for the year; 150 by 20 June is ahead of the profiled pace
        await helpers.produce(
            kafka_bootstrap,
            topics["TIENDO_EVENTS_TOPIC"],
            [helpers.reported("CA-TINH", "drug_cases_detected", "2024", 150)],
        )

        async def row():
            async with agg.engine.connect() as conn:
                return (
                    await conn.execute(
                        select(kpis).where(
                            kpis.c.agency == "CA-TINH",
                            kpis.c.indicator == "drug_cases_detected",
                            kpis.c.actual == 150,
                        )
                    )
                ).first()

        kpi = await helpers.wait_until(row)
        assert kpi.actual == 150 and kpi.target == 192
        assert kpi.status == KpiStatus.ON_TRACK

        def has_ours(events):
            return any(
                isinstance(e, KpiStatusChangedEvent)
                and e.data.agency == "CA-TINH"
                and e.data.indicator == "drug_cases_detected"
                and e.data.actual == 150
                for e in events
            )

        raw = await helpers.consume_all(
            kafka_bootstrap,
            topics["TIENDO_STATUS_TOPIC"],
            decode=False,
            until=lambda rs: has_ours([decode_status_event(r.value, r.headers) for r in rs]),
        )
    ours = [
        r
        for r in raw
        if decode_status_event(r.value, r.headers).subject == "CA-TINH/drug_cases_detected/2024"
        and decode_status_event(r.value, r.headers).data.actual == 150
    ]
    assert ours, "no kpi.status_changed for CA-TINH on the status topic"
    record = ours[-1]
    assert record.key == b"CA-TINH"
    headers = dict(record.headers)
    assert headers["ce_type"] == EventType.KPI_STATUS_CHANGED.encode()
    assert headers["ce_source"] == b"/services/aggregator"
    event = decode_status_event(record.value, record.headers)
    assert event.data.status == KpiStatus.ON_TRACK and event.data.target == 192
