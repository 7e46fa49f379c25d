"""Two plan years at once, on the projector's fakes: each event is counted by the plan of its own
reporting year (Decree 09/2019: the 2025 year begins on 15 Dec 2024), each year's KPIs by its own
targets, and an event of a year no plan holds is dead-lettered naming the plans loaded."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from services.aggregator.adapters.decoding import decode
from services.aggregator.adapters.memory import MemoryUnitOfWork
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import evaluate_agency
from services.aggregator.service_layer.projector import Projector
from shared.events.codec import to_kafka
from shared.plan.book import PlanBook
from tests.aggregator.helpers import PLAN, event, reported
from tests.plans import NEXT_YEAR_CODE, next_year_plan

BOTH = PlanBook.of(PLAN, next_year_plan())
ICT = timezone(timedelta(hours=7))
IN_2025 = datetime(2025, 1, 20, 8, 0, tzinfo=ICT)


def delivered(e, offset: int, plans=BOTH):
    r = to_kafka(e)
    record = SimpleNamespace(
        topic="events", partition=0, offset=offset, key=r.key, value=r.value, headers=r.headers, timestamp=0
    )
    return decode(record, plans)


async def test_each_year_is_counted_by_its_own_plan_and_judged_by_its_own_targets():
    uow = MemoryUnitOfWork()
    batch = [
        delivered(reported("CA-HUONG-HOA", "drug_cases_detected", "2024-06", 7, time=IN_2025), 1),
        delivered(reported("CA-HUONG-HOA", "drug_cases_detected", "2025-01", 3, time=IN_2025), 2),
    ]
    outcome = await Projector(uow, BOTH, "status", "dlq").apply(batch, IN_2025)
    assert (outcome.applied, outcome.dead_letters) == (2, 0)
    kpis = uow.state.kpis
    assert kpis[("CA-HUONG-HOA", "drug_cases_detected", "2024")].actual == 7
    assert kpis[("CA-HUONG-HOA", "drug_cases_detected", "2025")].actual == 3
    # on 20 Jan 2025 the 2024 year is over (judged: missed), the 2025 one has barely begun
    last_year, this_year = (
        kpis[("CA-HUONG-HOA", "drug_cases_detected", "2024")],
        kpis[("CA-HUONG-HOA", "drug_cases_detected", "2025")],
    )
    assert str(last_year.status) == "missed" and last_year.expected == last_year.target
    assert str(this_year.status) != "missed" and 0 < this_year.expected < this_year.target / 10


def test_an_activity_after_14_december_counts_into_the_next_years_january():
    session = event(
        "UBND-KHE-SANH",
        "activity.recorded",
        {"activity": "propaganda_session", "date": "2024-12-20", "participants": 40},
        time=datetime(2024, 12, 20, 9, 0, tzinfo=ICT),
    )
    fact = delivered(session, 1).fact
    ledger = fold([fact], BOTH)["UBND-KHE-SANH"]
    assert ledger.counted == {
        ("propaganda_sessions", "2025-01"): 1.0,
        ("propaganda_participants", "2025-01"): 40.0,
    }
    kpis, _ = evaluate_agency(ledger, BOTH, IN_2025)
    assert {k.period[:4] for k in kpis} == {"2024", "2025"}
    # with the 2024 plan alone, the same day lies outside the plan year: refused, not lost
    alone = delivered(session, 1, PLAN.index)
    assert alone.reason == "rejected" and "2025 reporting year" in alone.detail


async def test_an_event_of_a_year_no_plan_holds_is_dead_lettered_naming_the_plans_loaded():
    uow = MemoryUnitOfWork()
    stray = delivered(reported("CA-HUONG-HOA", "drug_cases_detected", "2026-03", 2, time=IN_2025), 5)
    outcome = await Projector(uow, BOTH, "status", "dlq").apply([stray], IN_2025)
    assert outcome.dead_letters == 1 and outcome.reasons == {"rejected": 1}
    (letter,) = [r for r in uow.state.outbox if r.topic == "dlq"]
    detail = dict(letter.record.headers)
    text = json.dumps({k: v.decode() for k, v in detail.items()}, ensure_ascii=False)
    assert (
        f"no plan is loaded for the reporting year 2026; plans loaded: 2024 (29/KH-BCĐ), 2025 ({NEXT_YEAR_CODE})"
        in text
    )
