"""Any permutation and duplication of an event stream gives the same projection, correction chains
(a correction of a correction, a link arriving before the one it names) included."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold, history
from services.aggregator.domain.kpi import evaluate_agency
from tests.aggregator.helpers import PLAN

VN = timezone(timedelta(hours=7))
START = datetime(2024, 1, 1, tzinfo=VN)
AGENCIES = {
    "UBND-HUONG-HOA": ["HUONG-HOA", "HH-KHE-SANH", "HH-LAO-BAO", None],
    "CA-TINH": [None, "HH-KHE-SANH"],
}
INDICATORS = [
    "propaganda_sessions",
    "inspections_conducted",
    "drug_cases_detected",
    "non_voluntary_addicts",
    "compulsory_rehab_dossiers",
    "people_in_rehab",
]
PERIODS = ["2024", "2024-Q1", "2024-Q2", "2024-03", "2024-06", "2024-H1"]


@st.composite
def streams(draw):
    n = draw(st.integers(1, 40))
    minutes = draw(st.lists(st.integers(0, 300_000), min_size=n, max_size=n, unique=True))
    facts, reported_ids = [], []
    for i, minute in enumerate(minutes):
        agency = draw(st.sampled_from(sorted(AGENCIES)))
        kind = draw(
            st.sampled_from(["reported", "reported", "corrected", "activity", "assessed", "submitted"])
        )
        if kind == "corrected" and not reported_ids:
            kind = "reported"
        if kind == "reported":
            data = {
                "indicator": draw(st.sampled_from(INDICATORS)),
                "period": draw(st.sampled_from(PERIODS)),
                "value": draw(st.integers(0, 50)),
            }
            unit = draw(st.sampled_from(AGENCIES[agency]))
            if unit:
                data["unit_code"] = unit
        elif kind == "corrected":  # of a report or of an earlier correction: a chain
            target_agency, target_id = draw(st.sampled_from(reported_ids))
            agency = target_agency
            data = {"corrects": target_id, "value": draw(st.integers(0, 50)), "reason": f"fix {i}"}
        elif kind == "activity":
            data = {
                "activity": draw(st.sampled_from(["propaganda_session", "inspection", "action_month_event"])),
                "date": (START + timedelta(days=draw(st.integers(0, 340)))).date().isoformat(),
                "participants": draw(st.integers(0, 300)),
            }
        elif kind == "assessed":
            data = {
                "unit_code": draw(st.sampled_from(["HH-KHE-SANH", "HH-LAO-BAO"])),
                "year": 2024,
                "good_movement": draw(st.booleans()),
                "good_management": True,
                "good_fight": draw(st.booleans()),
            }
        else:
            data = {"period": draw(st.sampled_from(["2024-01", "2024-05", "2024-06"]))}
        fact_id = f"e{i}"
        if kind in ("reported", "corrected"):
            reported_ids.append((agency, fact_id))
        facts.append(
            Fact(f"/agencies/{agency}", fact_id, agency, kind, START + timedelta(minutes=minute), i, data)
        )
    return facts


def projection(facts, now):
    out = {}
    for agency, ledger in fold(facts, PLAN).items():
        kpis, reports = evaluate_agency(ledger, PLAN, now)
        figures = {(i, p): ledger.actual(i, p, PLAN) for i in INDICATORS for p in PERIODS}
        trails = {i: history(facts, PLAN, agency, i, "2024") for i in INDICATORS[2:4]}  # every link, its role
        out[agency] = (kpis, reports, figures, trails)
    return out


@settings(max_examples=100, deadline=None)
@given(streams(), st.data())
def test_any_permutation_and_duplication_gives_the_same_projection(facts, data):
    now = datetime(2024, 6, 20, 8, tzinfo=VN)
    expected = projection(facts, now)
    repeats = data.draw(st.lists(st.sampled_from(facts), max_size=10))
    # a redelivery is the same record: same id, same position on the partition
    shuffled = data.draw(st.permutations(facts + repeats))
    assert projection(shuffled, now) == expected
