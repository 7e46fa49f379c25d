"""Snapshots through the projector, on the fake and on PostgreSQL (issue 20): a cold load of many
facts leaves a snapshot, and a replica starting from it projects what folding everything gives."""

from __future__ import annotations

import pytest

import services.aggregator.service_layer.projector as projector_module
from services.aggregator.domain.history import fold
from services.aggregator.domain.snapshots import ledger_from_state
from services.aggregator.service_layer.ports import UnitOfWork
from services.aggregator.service_layer.projector import Projector
from tests.aggregator.contract.conftest import delivered
from tests.aggregator.helpers import NOW, PLAN, event, reported


async def test_a_replica_starts_from_the_snapshot_a_long_load_left(
    uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(projector_module, "SNAPSHOT_AFTER", 1000)  # the history: recorded before snapshots
    agency = "UBND-HUONG-HOA"
    session = {"activity": "propaganda_session", "date": "2024-06-10", "participants": 40}
    history = [
        *(reported(agency, "propaganda_sessions", f"2024-0{m}", m) for m in range(1, 6)),
        event(agency, "activity.recorded", session),  # a sum: folding it twice would count it twice
    ]
    await Projector(uow, PLAN, "status", "dlq").apply(
        [delivered(e, n) for n, e in enumerate(history, 1)], NOW
    )
    monkeypatch.setattr(projector_module, "SNAPSHOT_AFTER", 4)
    fix = event(agency, "indicator.corrected", {"corrects": history[0].id, "value": 9, "reason": "sửa"})
    await Projector(uow, PLAN, "status", "dlq").apply(
        [delivered(fix, 7)], NOW
    )  # cold: loads six, keeps a snapshot
    async with uow.begin(NOW) as tx:
        (snapshot,) = (await tx.inbox.load_snapshots([agency])).values()
        everything = await tx.inbox.load_facts([agency])
    assert snapshot.facts == 6
    at_snapshot = ledger_from_state(agency, snapshot.state, PLAN)
    assert at_snapshot == fold([f for f in everything if f.id != fix.id], PLAN)[agency]
    late = reported(agency, "propaganda_sessions", "2024-06", 4)
    replica = Projector(uow, PLAN, "status", "dlq")
    await replica.apply([delivered(late, 8)], NOW)
    async with uow.begin(NOW) as tx:
        everything = await tx.inbox.load_facts([agency])
    assert replica._cache[agency].ledger == fold(everything, PLAN)[agency]
    assert replica._cache[agency].ledger.counted == fold(everything, PLAN)[agency].counted  # counted once
