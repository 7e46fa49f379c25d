"""Repeats while the batch is folded during the inbox's COPY: the live projection stays what a
fold of the inbox gives (PostgreSQL only: the projector is driven directly)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.aggregator.adapters.unit_of_work import SqlUnitOfWork
from services.aggregator.domain.facts import fact_from_event
from services.aggregator.domain.history import fold
from services.aggregator.service_layer.projector import Projector
from shared.db import make_engine
from tests.aggregator.helpers import NOW, PLAN, event, fresh_database, live_kpis, recomputed_kpis, reported
from tests.aggregator.streams import record

pytestmark = pytest.mark.infra
KPI = ("CA-TINH", "drug_cases_detected", "2024")


async def test_a_resend_at_another_offset_breaks_a_tie_as_the_inbox_does(database_url):
    engine = make_engine(await fresh_database(database_url))
    projector = Projector(SqlUnitOfWork(engine), PLAN.index, "status", "dlq")
    at = NOW - timedelta(days=1)
    first = reported("CA-TINH", "drug_cases_detected", "2024-06", 5, id="tie-a", time=at)
    second = reported("CA-TINH", "drug_cases_detected", "2024-06", 70, id="tie-b", time=at)
    try:
        await projector.apply([record(first, 1), record(second, 2)], NOW)  # same time: the later one wins
        # the first again, at a later offset (intake forwarded it twice): the inbox keeps it at 1
        outcome = await projector.apply([record(first, 3)], NOW)
        assert outcome.duplicates == 1
        live = await live_kpis(engine)
        assert live[KPI] == recomputed_kpis([first, second], NOW)[KPI]
        assert live[KPI][0] == 70
    finally:
        await engine.dispose()


async def test_a_redelivered_activity_counts_once_and_its_new_neighbours_count(database_url):
    engine = make_engine(await fresh_database(database_url))
    projector = Projector(SqlUnitOfWork(engine), PLAN.index, "status", "dlq")
    data = {"activity": "propaganda_session", "date": "2024-06-10", "participants": 40}
    events = [event("CA-TINH", "activity.recorded", data, id=f"act-{i}") for i in range(3)]
    try:
        await projector.apply([record(events[0], 1), record(events[1], 2)], NOW)
        # the second again (same record, redelivered) in a batch with a new one
        outcome = await projector.apply([record(events[1], 2), record(events[2], 3)], NOW)
        assert (outcome.applied, outcome.duplicates) == (1, 1)
        live = projector._cache["CA-TINH"].ledger.counted  # what the next evaluations start from
        recomputed = fold([fact_from_event(e, i, PLAN) for i, e in enumerate(events)], PLAN)[
            "CA-TINH"
        ].counted
        assert live == recomputed and 3 * 40.0 in live.values()  # three sessions' participants, not four
    finally:
        await engine.dispose()
