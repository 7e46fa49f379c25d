"""The aggregator's use case, `Projector.apply`, on its in-memory ports (adapters/memory.py) — in
milliseconds, as cosmicpython tests `services.allocate` on a `FakeUnitOfWork`: a batch is one
commit, a repeat is counted once, poison is dead-lettered once, a store that is away loses
nothing, and any order of delivery with redeliveries gives the projection of the distinct events
(the same property as tests/aggregator/integration/test_projector_order_property.py, there on
PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.aggregator.adapters.decoding import poison
from services.aggregator.adapters.memory import MemoryUnitOfWork
from services.aggregator.service_layer.ports import Delivered
from services.aggregator.service_layer.projector import Projector
from tests.aggregator.helpers import NOW, PLAN, event
from tests.aggregator.streams import deliveries, expected_projection, record, streams

REPORT = {"indicator": "drug_cases_detected", "period": "2024-06", "value": 7}


def delivered(e, offset: int = 1):
    return record(e, offset)


def projector(uow: MemoryUnitOfWork) -> Projector:
    return Projector(uow, PLAN.index, "status", "dlq")


async def test_a_batch_is_one_commit_with_its_figure_and_status_event():
    uow = MemoryUnitOfWork()
    outcome = await projector(uow).apply(
        [delivered(event("CA-HUONG-HOA", "indicator.reported", REPORT))], NOW
    )
    assert uow.commits == 1 and outcome.applied == 1 and outcome.duplicates == 0
    kpi = uow.state.kpis[("CA-HUONG-HOA", "drug_cases_detected", "2024")]  # the year's target counts June
    assert kpi.actual == 7
    statuses = [r for r in uow.state.outbox if r.topic == "status"]
    assert len(statuses) == outcome.status_events >= 1
    assert json.loads(statuses[0].record.value)["agency"] == "CA-HUONG-HOA"


async def test_a_redelivered_batch_changes_nothing_and_is_counted_as_duplicates():
    uow = MemoryUnitOfWork()
    batch = [delivered(event("CA-HUONG-HOA", "indicator.reported", REPORT, id="once"))]
    await projector(uow).apply(batch, NOW)
    before = uow.state.snapshot()
    again = await projector(uow).apply(batch, NOW)  # a restarted replica: cold cache
    assert (again.applied, again.duplicates, again.status_events) == (0, 1, 0)
    assert uow.state.kpis == before.kpis and uow.state.outbox == before.outbox
    assert len(uow.state.inbox) == len(before.inbox) == 1


async def test_poison_is_dead_lettered_once_even_when_redelivered():
    uow = MemoryUnitOfWork()
    bad = SimpleNamespace(
        topic="events", partition=0, offset=9, key=b"CA-TINH", value=b"{", headers=[], timestamp=0
    )
    first = await projector(uow).apply([poison(bad, "not JSON")], NOW)
    second = await projector(uow).apply([poison(bad, "not JSON")], NOW)
    assert (first.dead_letters, second.dead_letters) == (1, 0)
    assert [r.topic for r in uow.state.outbox] == ["dlq"]


async def test_a_store_that_is_away_records_nothing_and_the_batch_can_be_applied_again():
    uow = MemoryUnitOfWork()
    batch = [delivered(event("CA-HUONG-HOA", "indicator.reported", REPORT))]
    uow.available = False
    with pytest.raises(ConnectionError):
        await projector(uow).apply(batch, NOW)
    assert uow.state.kpis == {} and uow.state.inbox == {}
    uow.available = True
    assert (await projector(uow).apply(batch, NOW)).applied == 1


async def test_a_failure_inside_the_transaction_rolls_the_whole_batch_back(monkeypatch):
    uow = MemoryUnitOfWork()
    p = projector(uow)

    async def broken(*args, **kwargs):
        raise RuntimeError("the outbox refused")

    monkeypatch.setattr(p, "_save_changes", broken)
    with pytest.raises(RuntimeError):
        await p.apply([delivered(event("CA-HUONG-HOA", "indicator.reported", REPORT))], NOW)
    assert uow.rollbacks == 1 and uow.state.inbox == {} and uow.state.kpis == {}


def _run_on_fakes(batches: list[list], restart_at: int | None, distinct: list[Delivered]) -> None:
    async def run() -> None:
        uow = MemoryUnitOfWork()
        p = projector(uow)
        for i, batch in enumerate(batches):
            if i == restart_at:  # a restarted replica: ledgers reloaded from the inbox
                p = projector(uow)
            await p.apply(batch, NOW)
        expected_kpis, expected_reports = expected_projection(distinct)
        live = lambda: (  # noqa: E731
            {
                key: (k.actual, k.target, k.expected, k.forecast, k.status.value, k.due)
                for key, k in uow.state.kpis.items()
            },
            {key: (r.status.value, r.deadline, r.submitted_at) for key, r in uow.state.reports.items()},
        )
        kpis, reports = live()
        wrong = {k: (v, expected_kpis.get(k)) for k, v in kpis.items() if expected_kpis.get(k) != v}
        assert not wrong, f"KPI rows differing from the fold (live, fold): {wrong}"
        assert reports == expected_reports
        agencies = {d.fact.agency for d in distinct}
        await projector(uow).apply([], NOW, reevaluate=agencies)  # as the deadline check does
        assert live() == (expected_kpis, expected_reports)
        assert sum(1 for row in uow.state.inbox.values() if row.rejected is None) == len(distinct)

    asyncio.run(run())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.data())
def test_any_order_batching_and_redelivery_gives_the_projection_of_the_distinct_events(events, data):
    items = [record(e, offset) for offset, e in enumerate(events, start=1)]
    distinct = [i for i in items if type(i) is Delivered]
    batches = deliveries(data.draw, items)
    restart_at = data.draw(st.none() | st.integers(1, max(1, len(batches) - 1)))
    _run_on_fakes(batches, restart_at, distinct)
