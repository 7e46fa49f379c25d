"""Baselines from history (issue 20): a 2025 target of `baseline_value: recorded` is 105 % of the
agency's 2024 figure as Tiendo recorded it by the year's last cut-off, on the projector's fakes.
Provisional until then; frozen after (a later correction to 2024 moves 2024's KPI, not 2025's
target, and is reported); the same from a cold cache; refused without the 2024 plan."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.aggregator.adapters.memory import MemoryUnitOfWork
from services.aggregator.domain.baselines import baseline_sources, baselines_of, freeze_moment, frozen_figures
from services.aggregator.domain.history import fold
from services.aggregator.service_layer.projector import Projector
from shared.plan import PlanError
from shared.plan.book import PlanBook, load_plans
from shared.settings import REPO_ROOT
from tests.aggregator.helpers import PLAN, event, reported
from tests.aggregator.unit.test_plan_years import delivered
from tests.plans import next_year_plan, next_year_text

BOOK = PlanBook.of(PLAN, next_year_plan(recorded_baselines=True))
AGENCY, CASES = "CA-HUONG-HOA", "drug_cases_detected"
FROZEN_AT = freeze_moment(BOOK, AGENCY, 2024)  # the end of the day its December 2024 report was due


def _whole(value: float) -> float:
    return BOOK.latest.indicator(CASES).whole(value)


async def _apply(uow, events, now, projector=None):
    batch = [delivered(e, offset, BOOK) for offset, e in enumerate(events, start=len(uow.state.inbox) + 1)]
    return await (projector or Projector(uow, BOOK, "status", "dlq")).apply(batch, now)


def _kpi(uow, period: str):
    return uow.state.kpis[(AGENCY, CASES, period)]


async def test_the_target_follows_last_years_figure_until_its_cut_off_then_stays_frozen():
    assert FROZEN_AT.date().isoformat() == "2024-12-15"  # its rule: a day after the 14 Dec cut-off
    uow, projector = MemoryUnitOfWork(), None
    before = FROZEN_AT - timedelta(days=2)
    await _apply(uow, [reported(AGENCY, CASES, "2024", 40, time=before)], before)
    assert _kpi(uow, "2025").target == _whole(40 * 1.05)  # provisional: the figure as it stands
    december = reported(AGENCY, CASES, "2024", 48, id="december", time=FROZEN_AT - timedelta(hours=2))
    await _apply(uow, [december], FROZEN_AT - timedelta(hours=1))
    assert _kpi(uow, "2025").target == _whole(48 * 1.05)

    after = FROZEN_AT + timedelta(days=34)  # 20 January 2025
    correction = event(
        AGENCY, "indicator.corrected", {"corrects": "december", "value": 60, "reason": "sót vụ"}, time=after
    )
    projector = Projector(uow, BOOK, "status", "dlq")
    await _apply(uow, [correction, reported(AGENCY, CASES, "2025-01", 3, time=after)], after, projector)
    assert _kpi(uow, "2024").actual == 60  # the correction counts for 2024 ...
    assert _kpi(uow, "2025").target == _whole(48 * 1.05)  # ... not for the frozen 2025 target
    # a cold cache reads the same frozen figure from the inbox (what was recorded by the cut-off)
    await Projector(uow, BOOK, "status", "dlq").apply([], after + timedelta(days=1), reevaluate=[AGENCY])
    assert _kpi(uow, "2025").target == _whole(48 * 1.05)

    rows = [row for row in uow.state.inbox.values() if row.fact is not None]
    facts = [row.fact for row in rows]
    by_cut_off = [row.fact for row in rows if row.recorded_at <= FROZEN_AT]
    frozen = frozen_figures(by_cut_off, BOOK, AGENCY, [(CASES, 2024)])
    assert frozen == {(CASES, 2024): 48.0}
    (baseline,) = baselines_of(fold(facts, BOOK)[AGENCY], BOOK, after, frozen).values()
    assert (baseline.frozen, baseline.value, baseline.now, baseline.changed_since) == (True, 48.0, 60.0, True)


async def test_nothing_recorded_by_the_cut_off_gives_no_target_rather_than_a_guess():
    uow = MemoryUnitOfWork()
    late = FROZEN_AT + timedelta(days=3)
    await _apply(
        uow,
        [reported(AGENCY, CASES, "2024", 48, time=late), reported(AGENCY, CASES, "2025-01", 2, time=late)],
        late,
    )
    kpi = _kpi(uow, "2025")
    assert kpi.target is None and kpi.actual == 2
    assert _kpi(uow, "2024").actual == 48


def test_a_recorded_baseline_needs_its_years_plan_loaded(tmp_path: Path):
    (tmp_path / "2025.yaml").write_text(next_year_text(recorded_baselines=True), encoding="utf-8")
    with pytest.raises(PlanError) as err:
        load_plans(tmp_path)
    (issue,) = err.value.errors  # one per rule, naming its agencies
    assert issue.field == "target_rules police-cases-105"
    assert issue.message.startswith("a baseline recorded in 2024 (for CA-TINH, CA-DONG-HA, CA-HUONG-HOA")
    assert issue.message.endswith("needs the 2024 plan loaded beside this one; plans loaded: 2025")


async def test_a_new_commune_takes_its_predecessors_2024_figures_by_their_shares():
    """The shipped plans: Khe Sanh commune (from 1 July 2025) succeeds the township's committee
    (all of its work) and 0.3 of the Hướng Hóa district committee's; its H2 2025 participants
    target is 52.5 % of that, from what was recorded by their last 2024 cut-off."""
    shipped = load_plans(REPO_ROOT / "plans")
    new, township, district = "UBND-XA-KHE-SANH", "UBND-KHE-SANH", "UBND-HUONG-HOA"
    participants = "propaganda_participants"
    assert baseline_sources(shipped, new, 2024) == ((township, 1.0), (district, 0.3))
    moment = freeze_moment(shipped, new, 2024)
    assert moment == freeze_moment(shipped, district, 2024) > freeze_moment(shipped, township, 2024)
    uow = MemoryUnitOfWork()
    projector = Projector(uow, shipped, "status", "dlq")

    async def apply(events, now):
        batch = [delivered(e, n, shipped) for n, e in enumerate(events, start=len(uow.state.inbox) + 1)]
        await projector.apply(batch, now)

    december = moment - timedelta(days=3)
    await apply(
        [
            reported(township, participants, "2024-11", 600, time=december),
            reported(township, participants, "2024-12", 400, time=december),
            reported(district, participants, "2024-12", 2000, time=december),
        ],
        december,
    )
    july = datetime(2025, 7, 20, 9, tzinfo=moment.tzinfo)
    await apply([reported(new, participants, "2025-07", 150, time=july)], july)
    kpi = uow.state.kpis[(new, participants, "2025-H2")]
    assert kpi.target == math.ceil(0.525 * (1000 + 0.3 * 2000)) and kpi.actual == 150  # 840
    facts = [row.fact for row in uow.state.inbox.values() if row.fact is not None]
    frozen = frozen_figures(facts, shipped, new, [(participants, 2024)])
    assert frozen == {(participants, 2024): 1000 + 0.3 * 2000}
    empty = frozen_figures([f for f in facts if f.agency == township], shipped, new, [(participants, 2024)])
    assert empty == {(participants, 2024): None}  # the district committee's figure is missing
