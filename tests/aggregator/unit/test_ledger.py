"""Figures: latest-by-time cumulative values, corrections, activity counts, assessments, roll-up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.aggregator.domain.facts import Fact, Rejected, fact_from_event
from services.aggregator.domain.history import fold, history
from tests.aggregator.helpers import PLAN, event, reported

T0 = datetime(2024, 6, 1, 8, tzinfo=timezone(timedelta(hours=7)))
_n = iter(range(10**6))


def fact(agency, kind, data, *, hours=0, id=None, arrival=None):
    n = next(_n)
    return Fact(
        f"/agencies/{agency}",
        id or f"f{n}",
        agency,
        kind,
        T0 + timedelta(hours=hours),
        n if arrival is None else arrival,
        data,
    )


def rep(agency, indicator, period, value, **kw):
    data = {"indicator": indicator, "period": period, "value": value}
    if "unit" in kw:
        data["unit_code"] = kw.pop("unit")
    return fact(agency, "reported", data, **kw)


def actual(facts, agency, indicator, period):
    return fold(facts, PLAN)[agency].actual(indicator, period, PLAN)


def test_latest_report_by_time_wins_whatever_the_arrival_order():
    early, late = (
        rep("CA-TINH", "drug_cases_detected", "2024", 40, hours=0),
        rep("CA-TINH", "drug_cases_detected", "2024", 55, hours=5),
    )
    assert actual([early, late], "CA-TINH", "drug_cases_detected", "2024") == 55
    assert actual([late, early], "CA-TINH", "drug_cases_detected", "2024") == 55


def test_equal_times_go_to_the_later_arrival():
    a = rep("CA-TINH", "drug_cases_detected", "2024", 40, arrival=7)
    b = rep("CA-TINH", "drug_cases_detected", "2024", 41, arrival=9)
    b = Fact(b.source, b.id, b.agency, b.kind, a.time, 9, b.data)
    assert actual([b, a], "CA-TINH", "drug_cases_detected", "2024") == 41


def test_a_correction_replaces_the_value_and_keeps_its_reason_even_if_it_arrives_first():
    original = rep("CA-TINH", "drug_cases_detected", "2024", 50, id="r1")
    fix = fact("CA-TINH", "corrected", {"corrects": "r1", "value": 48, "reason": "hai vụ trùng"}, hours=3)
    for facts in ([original, fix], [fix, original]):
        assert actual(facts, "CA-TINH", "drug_cases_detected", "2024") == 48
    trail = history([fix, original], PLAN, "CA-TINH", "drug_cases_detected", "2024")
    assert [e["role"] for e in trail] == ["applied", "correction"]
    assert trail[0]["value"] == 48 and trail[0]["data"]["value"] == 50
    assert trail[1]["reason"] == "hai vụ trùng"


def test_history_lists_superseded_values():
    old = rep("CA-TINH", "drug_cases_detected", "2024", 30, hours=0)
    new = rep("CA-TINH", "drug_cases_detected", "2024", 35, hours=1)
    trail = history([new, old], PLAN, "CA-TINH", "drug_cases_detected", "2024")
    assert [(e["role"], e["value"]) for e in trail] == [("superseded", 30), ("applied", 35)]


def test_activities_count_into_every_period_whose_window_holds_the_date():
    # 16 June lies past the 14 June cut-off: it belongs to July, Q3, H2 and the year
    s = fact(
        "SGDDT", "activity", {"activity": "propaganda_session", "date": "2024-06-16", "participants": 120}
    )
    t = fact(
        "SGDDT", "activity", {"activity": "propaganda_session", "date": "2024-06-10", "participants": 80}
    )
    ledger = fold([s, t], PLAN)["SGDDT"]
    assert ledger.actual("propaganda_sessions", "2024", PLAN) == 2
    assert ledger.actual("propaganda_participants", "2024", PLAN) == 200
    assert ledger.actual("propaganda_sessions", "2024-07", PLAN) == 1
    assert ledger.actual("propaganda_sessions", "2024-Q2", PLAN) == 1
    assert ledger.actual("propaganda_sessions", "2024-05", PLAN) is None


def test_commune_assessments_count_communes_passing_all_three_criteria_latest_wins():
    def assess(unit, ok, hours):
        return fact(
            "CA-TINH",
            "assessed",
            {
                "unit_code": unit,
                "year": 2024,
                "good_movement": True,
                "good_management": True,
                "good_fight": ok,
            },
            hours=hours,
        )

    facts = [assess("HH-KHE-SANH", False, 0), assess("HH-KHE-SANH", True, 2), assess("HH-LAO-BAO", False, 1)]
    assert actual(facts, "CA-TINH", "communes_3_good", "2024") == 1
    assert actual(list(reversed(facts)), "CA-TINH", "communes_3_good", "2024") == 1


def test_units_roll_up_to_the_agency_and_a_units_own_figure_covers_those_below_it():
    communes = [
        rep("UBND-HUONG-HOA", "inspections_conducted", "2024", 2, unit="HH-KHE-SANH"),
        rep("UBND-HUONG-HOA", "inspections_conducted", "2024", 3, unit="HH-LAO-BAO"),
    ]
    assert actual(communes, "UBND-HUONG-HOA", "inspections_conducted", "2024") == 5
    district = rep("UBND-HUONG-HOA", "inspections_conducted", "2024", 7, unit="HUONG-HOA")
    assert actual(communes + [district], "UBND-HUONG-HOA", "inspections_conducted", "2024") == 7


def test_periods_roll_up_flows_add_and_stocks_take_the_latest():
    months = [rep("CA-DONG-HA", "drug_cases_detected", f"2024-0{m}", m) for m in (1, 2, 3)]
    assert actual(months, "CA-DONG-HA", "drug_cases_detected", "2024-Q1") == 6
    assert actual(months, "CA-DONG-HA", "drug_cases_detected", "2024") == 6
    stock = [rep("CA-DONG-HA", "drug_users_managed", f"2024-0{m}", 100 + m) for m in (1, 3, 2)]
    assert actual(stock, "CA-DONG-HA", "drug_users_managed", "2024-Q1") == 103
    direct = rep("CA-DONG-HA", "drug_cases_detected", "2024-Q1", 9)
    assert actual(months + [direct], "CA-DONG-HA", "drug_cases_detected", "2024") == 9


@pytest.mark.parametrize(
    "agency, type_, data, reason",
    [
        (
            "NOBODY",
            "indicator.reported",
            {"indicator": "drug_cases_detected", "period": "2024", "value": 1},
            "agency",
        ),
        ("CA-TINH", "indicator.reported", {"indicator": "nope", "period": "2024", "value": 1}, "indicator"),
        (
            "CA-TINH",
            "indicator.reported",
            {"indicator": "drug_cases_detected", "period": "2024", "value": 5000},
            "maximum",
        ),
        (
            "CA-TINH",
            "indicator.reported",
            {"indicator": "drug_cases_detected", "period": "2023", "value": 1},
            "plan year",
        ),
        (
            "CA-TINH",
            "indicator.reported",
            {"indicator": "drug_cases_detected", "period": "2024", "value": 1, "unit_code": "ATLANTIS"},
            "unit",
        ),
        ("SGDDT", "activity.recorded", {"activity": "juggling", "date": "2024-03-01"}, "activity"),
    ],
)
def test_events_the_plan_cannot_accept_are_rejected_with_a_reason(agency, type_, data, reason):
    with pytest.raises(Rejected, match=reason):
        fact_from_event(event(agency, type_, data), 0, PLAN)


def test_an_accepted_event_keeps_its_data():
    f = fact_from_event(reported("CA-TINH", "drug_cases_detected", "2024-06", 4, id="x1"), 12, PLAN)
    assert (f.agency, f.kind, f.id, f.arrival, f.data["value"]) == ("CA-TINH", "reported", "x1", 12, 4)


def test_folding_a_fact_again_changes_nothing_unless_its_kind_adds_up():
    """What lets the projector fold a batch before the inbox has said which records are repeats."""
    import copy

    from services.aggregator.domain.ledger import ADDS_UP
    from services.aggregator.sample import sample_events

    facts = [fact_from_event(e, i, PLAN) for i, e in enumerate(sample_events(PLAN, 600, seed=21))]
    assert {f.kind for f in facts} > ADDS_UP  # every kind is exercised
    ledgers = fold(facts, PLAN)
    before = copy.deepcopy(ledgers)
    for f in facts:
        if f.kind not in ADDS_UP:
            ledgers[f.agency].apply(f, PLAN)
    assert ledgers == before
    adding = next(f for f in facts if f.kind in ADDS_UP)
    ledgers[adding.agency].apply(adding, PLAN)
    assert ledgers != before


def test_restoring_an_undo_log_puts_the_sums_back_as_they_were_absent_ones_included():
    """What lets the projector count a batch's activities before the inbox's verdict, and take
    back those the inbox had already."""
    import copy

    from services.aggregator.domain.ledger import AgencyLedger

    ledger = AgencyLedger("SGDDT")
    ledger.apply(
        fact(
            "SGDDT", "activity", {"activity": "propaganda_session", "date": "2024-03-05", "participants": 30}
        ),
        PLAN,
    )
    before = copy.deepcopy(ledger)
    undo: dict = {}
    for day, participants in (("2024-03-20", 50), ("2024-08-02", 0), ("2024-03-21", 7)):  # known and new sums
        ledger.apply(
            fact(
                "SGDDT",
                "activity",
                {"activity": "propaganda_session", "date": day, "participants": participants},
            ),
            PLAN,
            undo,
        )
    assert ledger.counted.keys() > before.counted.keys()
    ledger.restore(undo)
    assert ledger == before
