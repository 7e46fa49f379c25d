"""Ledger snapshots (issue 20): a ledger restored from a snapshot of any prefix of an agency's
facts, with the rest folded on top, is the ledger folding them all gives (correction chains,
activities, assessments and submissions included); and the projector on its fakes takes a
snapshot after a long load and a fresh replica starts from it, reading only the facts after it."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import services.aggregator.service_layer.projector as projector_module
from services.aggregator.adapters.memory import MemoryInbox, MemoryUnitOfWork
from services.aggregator.domain.history import fold
from services.aggregator.domain.ledger import AgencyLedger
from services.aggregator.domain.snapshots import ledger_from_state, ledger_state
from services.aggregator.service_layer.projector import Projector
from shared.plan import load_plan
from shared.plan.book import PlanBook
from shared.settings import DEFAULT_PLAN
from tests.aggregator.helpers import PLAN, reported
from tests.aggregator.unit.test_order_independence import streams
from tests.aggregator.unit.test_plan_years import delivered
from tests.plans import amended_plan, next_year_plan, renamed_plan

VN = timezone(timedelta(hours=7))


@settings(max_examples=100, deadline=None)
@given(streams(), st.data())
def test_a_snapshot_and_the_rest_folded_on_it_is_the_whole_fold(facts, data):
    cut = data.draw(st.integers(0, len(facts)))
    whole = fold(facts, PLAN)
    for agency, ledger in fold(facts[:cut], PLAN).items():
        restored = ledger_from_state(agency, ledger_state(ledger, PLAN), PLAN)
        assert restored is not None
        for f in facts[cut:]:
            if f.agency == agency:
                restored.apply(f, PLAN)
        assert restored == whole[agency]


def test_a_snapshot_of_other_plans_or_another_layout_is_not_used():
    ledger = fold([delivered(reported("CA-TINH", "drug_cases_detected", "2024-06", 4), 1, PLAN).fact], PLAN)[
        "CA-TINH"
    ]
    state = ledger_state(ledger, PLAN)
    assert ledger_from_state("CA-TINH", state, PLAN) == ledger
    assert (
        ledger_from_state("CA-TINH", state, PlanBook.of(PLAN, next_year_plan())) is None
    )  # another plan loaded
    assert ledger_from_state("CA-TINH", b"\x93not a ledger", PLAN) is None


def test_a_snapshot_stays_good_when_the_plan_changes_only_what_the_fold_does_not_read():
    """Targets amended and agencies renamed (tests/plans.py) are not folded: the snapshot is used.
    A plan whose activities count into something else, or whose months end on another day, is."""
    ledger = fold([delivered(reported("CA-TINH", "drug_cases_detected", "2024-06", 4), 1, PLAN).fact], PLAN)[
        "CA-TINH"
    ]
    state = ledger_state(ledger, PLAN)
    assert ledger_from_state("CA-TINH", state, amended_plan()) == ledger
    assert ledger_from_state("CA-TINH", state, renamed_plan()) == ledger
    text = DEFAULT_PLAN.read_text(encoding="utf-8")
    inspections = "{indicator: inspections_conducted, measure: count}"
    for changed in (
        text.replace("cutoff_day: 14", "cutoff_day: 20", 1),  # months end on another day
        text.replace(inspections, inspections.replace("count", "participants"), 1),  # counted otherwise
    ):
        assert changed != text
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "changed.yaml"
            path.write_text(changed, encoding="utf-8")
            assert ledger_from_state("CA-TINH", state, load_plan(path)) is None


async def test_a_fresh_replica_starts_from_the_snapshot_and_the_facts_after_it(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(projector_module, "SNAPSHOT_AFTER", 1000)  # the history: recorded before snapshots
    uow = MemoryUnitOfWork()
    now = datetime(2024, 6, 20, 8, tzinfo=VN)
    history = [reported("CA-TINH", "drug_cases_detected", f"2024-{m:02d}", m) for m in range(1, 7)]
    await Projector(uow, PLAN, "status", "dlq").apply(
        [delivered(e, n, PLAN) for n, e in enumerate(history, 1)], now
    )
    assert uow.state.ledger_snapshots == {}
    monkeypatch.setattr(projector_module, "SNAPSHOT_AFTER", 5)
    # a replica with a cold cache loads the six facts: more than SNAPSHOT_AFTER, so it keeps a snapshot
    later = reported("CA-TINH", "drug_cases_detected", "2024-06", 10, time=now)
    await Projector(uow, PLAN, "status", "dlq").apply([delivered(later, 7, PLAN)], now)
    snapshot = uow.state.ledger_snapshots["CA-TINH"]
    assert snapshot.facts == 6 and snapshot.upto == 6  # the six recorded before the batch, in order
    # the next replica reads the snapshot and only the fact recorded after it
    read: list[int] = []
    real = MemoryInbox.tail

    async def counting(self, agency, after):
        async for chunk in real(self, agency, after):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(MemoryInbox, "tail", counting)
    projector = Projector(uow, PLAN, "status", "dlq")
    await projector.apply([], now, reevaluate=["CA-TINH"])
    assert read == [1]
    ledger = projector._cache["CA-TINH"].ledger
    expected = fold([row.fact for row in uow.state.inbox.values() if row.fact], PLAN)["CA-TINH"]
    assert ledger == expected and ledger != AgencyLedger("CA-TINH")
    assert uow.state.kpis[("CA-TINH", "drug_cases_detected", "2024")].actual == expected.actual(
        "drug_cases_detected", "2024", PLAN
    )


async def test_a_running_replica_takes_a_snapshot_every_so_many_facts(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(projector_module, "SNAPSHOT_AFTER", 3)
    uow = MemoryUnitOfWork()
    now = datetime(2024, 6, 20, 8, tzinfo=VN)
    projector = Projector(uow, PLAN, "status", "dlq")
    events = [reported("CA-TINH", "drug_cases_detected", f"2024-{m:02d}", m) for m in range(1, 6)]
    await projector.apply([delivered(e, n, PLAN) for n, e in enumerate(events[:2], 1)], now)
    assert "CA-TINH" not in uow.state.ledger_snapshots  # two folded: not yet
    await projector.apply([delivered(events[2], 3, PLAN)], now)
    snapshot = uow.state.ledger_snapshots["CA-TINH"]
    assert (snapshot.upto, snapshot.facts) == (3, 3)
    await projector.apply([delivered(e, n, PLAN) for n, e in enumerate(events[3:], 4)], now)
    assert uow.state.ledger_snapshots["CA-TINH"] == snapshot  # two more since: not yet again
    restored = ledger_from_state("CA-TINH", snapshot.state, PLAN)
    assert restored == fold([row.fact for row in uow.state.inbox.values() if row.seq <= 3], PLAN)["CA-TINH"]
