"""Milestones count only the work dated on or before the due date (issue 15), and one fed by
activities is judged from them as they arrive, not at the agency's next periodic report.

Each row: the agency's milestone (the shipped plan's Action Month, due 30 June), what it did
(activities by date, or reported figures with the moment they were stated), the day it is
judged (end of day, Vietnam), and the status and actual a leader must see.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import end_of_day, evaluate
from services.aggregator.domain.ledger import AgencyLedger
from shared.events.models import KpiStatus as S
from tests.aggregator.helpers import PLAN

VN = timezone(timedelta(hours=7))
YOUTH = "TINH-DOAN"  # 12 by 30 June; reports quarterly, 5 days after the cut-off
DISTRICT = "UBND-HUONG-HOA"  # 6 by 30 June; reports monthly, 3 days after the cut-off


def held(*days_and_counts):
    """Action Month events: (ISO day, how many held that day)."""
    return [("activity", day, n) for day, n in days_and_counts]


def stated(period, value, on):
    """A reported figure for `period`, stated (event time) on day `on`."""
    return [("reported", period, value, on)]


def ledger_of(agency, items, plan):
    facts, n = [], 0
    for item in items:
        if item[0] == "activity":
            _, day, count = item
            for _ in range(count):
                n += 1
                facts.append(
                    Fact(
                        f"/agencies/{agency}",
                        f"a{n}",
                        agency,
                        "activity",
                        datetime.combine(date.fromisoformat(day), time(9), VN),
                        n,
                        {"activity": "action_month_event", "date": day, "participants": 30},
                    )
                )
        else:
            _, period, value, on = item
            n += 1
            facts.append(
                Fact(
                    f"/agencies/{agency}",
                    f"r{n}",
                    agency,
                    "reported",
                    datetime.combine(date.fromisoformat(on), time(9), VN),
                    n,
                    {"indicator": "action_month_activities", "period": period, "value": value},
                )
            )
    return fold(facts, plan).get(agency) or AgencyLedger(agency)


# (case, agency, what it did, judged on, status, actual)
CASES = [
    (
        "July activities do not achieve a June milestone",
        YOUTH,
        held(("2024-06-20", 6), ("2024-07-05", 6)),
        "2024-09-20",
        S.MISSED,
        6,
    ),
    (
        "an activity on the due date counts, the day after does not",
        YOUTH,
        held(("2024-06-30", 11), ("2024-07-01", 1)),
        "2024-09-20",
        S.MISSED,
        11,
    ),
    ("12 held by 28 June: achieved on 1 July", YOUTH, held(("2024-06-28", 12)), "2024-07-01", S.ACHIEVED, 12),
    # The youth union reports quarterly (Q3's report is due 19 September): its activities judge it.
    (
        "11 by the due date: missed once its 5 days to record them are over",
        YOUTH,
        held(("2024-06-25", 11)),
        "2024-07-05",
        S.MISSED,
        11,
    ),
    (
        "11 by the due date: still open within the 5 days",
        YOUTH,
        held(("2024-06-25", 11)),
        "2024-07-04",
        S.ON_TRACK,
        11,
    ),
    (
        "nothing held by 20 June: behind, from the activities, not the March report",
        YOUTH,
        [],
        "2024-06-20",
        S.LAGGING,
        0,
    ),
    (
        "a district committee (monthly, +3): July work not counted",
        DISTRICT,
        held(("2024-06-10", 3), ("2024-07-02", 3)),
        "2024-07-10",
        S.MISSED,
        3,
    ),
    # Reported figures are dated by their period's window, or, for a period running past the
    # due date, by when they were stated.
    (
        "June's monthly figure (window to 14 June) counts",
        DISTRICT,
        stated("2024-06", 6, "2024-06-16"),
        "2024-07-10",
        S.ACHIEVED,
        6,
    ),
    (
        "July's monthly figure (15 June - 14 July) does not",
        DISTRICT,
        stated("2024-07", 6, "2024-07-16"),
        "2024-07-20",
        S.MISSED,
        0,
    ),
    (
        "a year-to-date figure stated by the due date counts",
        YOUTH,
        stated("2024", 12, "2024-06-29"),
        "2024-07-10",
        S.ACHIEVED,
        12,
    ),
    (
        "a year-to-date figure stated after it does not",
        YOUTH,
        stated("2024", 12, "2024-07-03"),
        "2024-07-10",
        S.MISSED,
        0,
    ),
]


@pytest.mark.parametrize("plan", [PLAN, PLAN.index], ids=["plan", "view"])
@pytest.mark.parametrize("case, agency, items, day, status, actual", CASES, ids=[c[0] for c in CASES])
def test_a_milestone_counts_what_was_done_by_its_due_date(case, agency, items, day, status, actual, plan):
    target = PLAN.target(agency, "action_month_activities", "2024")
    kpi = evaluate(ledger_of(agency, items, plan), target, plan, end_of_day(date.fromisoformat(day), plan.tz))
    assert (kpi.status, kpi.actual) == (status, actual)


def test_the_year_figure_of_a_milestone_indicator_still_counts_everything():
    """Only the milestone is dated: the indicator's own year figure keeps July's work."""
    ledger = ledger_of(YOUTH, held(("2024-06-20", 6), ("2024-07-05", 6)), PLAN)
    assert ledger.actual("action_month_activities", "2024", PLAN) == 12
    assert ledger.actual("action_month_activities", "2024-07", PLAN) == 12


def test_which_milestones_are_judged_from_activities_follows_the_plans_figure_source():
    from services.aggregator.domain.kpi import counted_from_activities

    # the shipped plan records Action Month activities one by one for the agencies with the milestone
    assert counted_from_activities(PLAN, YOUTH, "action_month_activities")
    assert counted_from_activities(PLAN, DISTRICT, "action_month_activities")
    assert not counted_from_activities(PLAN, "UBND-DONG-HA", "action_month_activities")  # it reports a figure
    assert not counted_from_activities(PLAN, "CA-TINH", "drug_cases_detected")
