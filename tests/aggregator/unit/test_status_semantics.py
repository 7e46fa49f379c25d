"""Status semantics (issue 15), one row per case: what a leader should see on that date.

Each row: the agency's target (from the shipped plan, or a variant of one), what it has done,
the moment it is judged, and the status and figures (target, expected by now) it must show.
Agencies are judged at their data cut-off (docs/aggregator.md), noted per row.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import end_of_day, evaluate
from services.aggregator.domain.ledger import AgencyLedger
from shared.events.models import KpiStatus as S
from tests.aggregator.helpers import PLAN

VN = timezone(timedelta(hours=7))


def variant(base: tuple, **changes):
    return PLAN.target(*base).model_copy(update=changes)


def reported(agency, *figures):
    facts = [
        Fact(
            f"/agencies/{agency}",
            f"r{i}",
            agency,
            "reported",
            datetime(2024, 1, 1, tzinfo=VN),
            i,
            {"indicator": indicator, "period": period, "value": value},
        )
        for i, (indicator, period, value) in enumerate(figures)
    ]
    return fold(facts, PLAN).get(agency) or AgencyLedger(agency)


Q2_SESSION = ("UBND-HUONG-HOA", "propaganda_sessions", "2024-Q2")  # 1 session, monthly reporter (+3 days)
H1_INSPECTIONS = ("SLDTBXH", "inspections_conducted", "2024-H1")  # 2 inspections, quarterly (+5 days)
YEAR_INSPECTIONS = ("SYT", "inspections_conducted", "2024")  # 4 inspections, quarterly (+5 days)
DISTRICT_INSPECTIONS = ("UBND-HUONG-HOA", "inspections_conducted", "2024")  # 4, monthly (+3 days)
ACTION_MONTH = ("TINH-DOAN", "action_month_activities", "2024")  # 12 by 30 June, profiled, quarterly
DOSSIERS = ("CA-TINH", "compulsory_rehab_dossiers", "2024")  # 100 % of non-voluntary addicts
COMMUNES = ("CA-TINH", "communes_3_good", "2024")  # 40, at_end
CASES_HH = ("CA-HUONG-HOA", "drug_cases_detected", "2024")  # 105 % of 47

# (case, target, figures reported, judged on (end of day, Vietnam), status, target, expected)
CASES = [
    # A district committee's 1 session in Q2: judged at 14 April, expected 0 (was 0.34: lagging).
    ("1 session in Q2, 18 April, none yet", PLAN.target(*Q2_SESSION), [], "2024-04-18", S.ON_TRACK, 1, 0),
    (
        "1 session in Q2, 17 June, none yet (May figures)",
        PLAN.target(*Q2_SESSION),
        [],
        "2024-06-17",
        S.ON_TRACK,
        1,
        0,
    ),
    (
        "1 session in Q2, 18 June, none held: missed",
        PLAN.target(*Q2_SESSION),
        [],
        "2024-06-18",
        S.MISSED,
        1,
        1,
    ),
    (
        "1 session in Q2, 18 June, held",
        PLAN.target(*Q2_SESSION),
        [("propaganda_sessions", "2024-Q2", 1)],
        "2024-06-18",
        S.ACHIEVED,
        1,
        1,
    ),
    # A commune committee with the same target (a variant: the plan gives communes monthly ones).
    (
        "commune: 1 session in Q2, 18 April",
        variant(Q2_SESSION, agency="UBND-KHE-SANH"),
        [],
        "2024-04-18",
        S.ON_TRACK,
        1,
        0,
    ),
    (
        "commune: 1 session in April, 16 April, none: missed",
        PLAN.target("UBND-KHE-SANH", "propaganda_sessions", "2024-04"),
        [],
        "2024-04-16",
        S.MISSED,
        1,
        1,
    ),
    # A department's 2 inspections in H1: judged at 14 March, expected 0 (was 0.99: lagging).
    (
        "2 inspections in H1, 20 March, none yet",
        PLAN.target(*H1_INSPECTIONS),
        [],
        "2024-03-20",
        S.ON_TRACK,
        2,
        0,
    ),
    (
        "2 inspections in H1, 20 June, one: missed",
        PLAN.target(*H1_INSPECTIONS),
        [("inspections_conducted", "2024-H1", 1)],
        "2024-06-20",
        S.MISSED,
        2,
        2,
    ),
    (
        "2 inspections in H1, 20 June, both",
        PLAN.target(*H1_INSPECTIONS),
        [("inspections_conducted", "2024-H1", 2)],
        "2024-06-20",
        S.ACHIEVED,
        2,
        2,
    ),
    # 4 inspections a year: 2 due at mid-year; one behind is at risk, two behind lagging.
    (
        "4 a year, 20 June, 2 done",
        PLAN.target(*YEAR_INSPECTIONS),
        [("inspections_conducted", "2024", 2)],
        "2024-06-20",
        S.ON_TRACK,
        4,
        2,
    ),
    (
        "4 a year, 20 June, 1 done: one behind",
        PLAN.target(*YEAR_INSPECTIONS),
        [("inspections_conducted", "2024", 1)],
        "2024-06-20",
        S.AT_RISK,
        4,
        2,
    ),
    ("4 a year, 20 June, none: lagging", PLAN.target(*YEAR_INSPECTIONS), [], "2024-06-20", S.LAGGING, 4, 2),
    (
        "4 a year, monthly reporter, 18 April, none: one behind",
        PLAN.target(*DISTRICT_INSPECTIONS),
        [],
        "2024-04-18",
        S.AT_RISK,
        4,
        1,
    ),
    (
        "4 a year, 20 December, 3 done: missed",
        PLAN.target(*YEAR_INSPECTIONS),
        [("inspections_conducted", "2024", 3)],
        "2024-12-20",
        S.MISSED,
        4,
        4,
    ),
    # The Action Month milestone keeps its profile: little expected before June. It is fed by
    # activities, so the youth union (quarterly, +5 days) is judged at 15 May, not 14 March.
    (
        "Action Month, 20 May, 3 held (profile)",
        PLAN.target(*ACTION_MONTH),
        [("action_month_activities", "2024", 3)],
        "2024-05-20",
        S.ON_TRACK,
        12,
        1,
    ),
    (
        "Action Month, 20 May, 3 held (linear: behind)",
        variant(ACTION_MONTH, pace="linear", profile=None),
        [("action_month_activities", "2024", 3)],
        "2024-05-20",
        S.LAGGING,
        12,
        12 * 153 / 199,
    ),
    (
        "Action Month, 20 September, 11 of 12: missed",
        PLAN.target(*ACTION_MONTH),
        [("action_month_activities", "2024", 11)],
        "2024-09-20",
        S.MISSED,
        12,
        12,
    ),
    (
        "Action Month, 20 September, 12: achieved",
        PLAN.target(*ACTION_MONTH),
        [("action_month_activities", "2024", 12)],
        "2024-09-20",
        S.ACHIEVED,
        12,
        12,
    ),
    # A ratio without its denominator: no target; no_data once figures are due.
    (
        "dossiers, 10 January, nothing due yet",
        PLAN.target(*DOSSIERS),
        [],
        "2024-01-10",
        S.ON_TRACK,
        None,
        None,
    ),
    (
        "dossiers, 20 June, denominator never reported",
        PLAN.target(*DOSSIERS),
        [("compulsory_rehab_dossiers", "2024", 5)],
        "2024-06-20",
        S.NO_DATA,
        None,
        None,
    ),
    (
        "dossiers, 20 June, 40 addicts, 20 dossiers",
        PLAN.target(*DOSSIERS),
        [("non_voluntary_addicts", "2024", 40), ("compulsory_rehab_dossiers", "2024", 20)],
        "2024-06-20",
        S.ON_TRACK,
        40,
        20,
    ),  # judged at 14 June: half the year's window
    # Counts have whole targets, rounded up; measures keep decimals (and a linear pace).
    (
        "105 % of 47 cases is 50",
        PLAN.target(*CASES_HH),
        [("drug_cases_detected", "2024", 50)],
        "2024-06-20",
        S.ACHIEVED,
        50,
        25,
    ),
    (
        "105 % of 20 cases is 21, not 22",
        variant(CASES_HH, baseline_value=20),
        [],
        "2024-06-20",
        S.LAGGING,
        21,
        10,
    ),
    (
        "grams keep decimals",
        variant(CASES_HH, indicator="drug_seizures_heroin_g", baseline_value=1000.5),
        [("drug_seizures_heroin_g", "2024", 600)],
        "2024-06-20",
        S.ON_TRACK,
        1050.525,
        1050.525 / 2,
    ),
    # A baseline of 0 needs a floor (the loader refuses it otherwise): nothing done is missed.
    (
        "baseline 0, floor 3, nothing done by the year's end",
        variant(CASES_HH, baseline_value=0, floor=3),
        [],
        "2024-12-20",
        S.MISSED,
        3,
        3,
    ),
    # Communes are assessed once a year: judged at the year's end only.
    (
        "communes 3-good, 20 June, none assessed yet",
        PLAN.target(*COMMUNES),
        [],
        "2024-06-20",
        S.ON_TRACK,
        40,
        0,
    ),
    (
        "communes 3-good, 20 December, 35: missed",
        PLAN.target(*COMMUNES),
        [("communes_3_good", "2024", 35)],
        "2024-12-20",
        S.MISSED,
        40,
        40,
    ),
]


@pytest.mark.parametrize(
    "case, goal, figures, day, status, target_value, expected", CASES, ids=[c[0] for c in CASES]
)
def test_what_a_leader_sees(case, goal, figures, day, status, target_value, expected):
    ledger = reported(goal.agency, *figures)
    kpi = evaluate(ledger, goal, PLAN, end_of_day(date.fromisoformat(day), PLAN.tz))
    assert (kpi.status, kpi.target) == (status, target_value)
    assert kpi.expected == (None if expected is None else pytest.approx(expected))


def test_a_stock_judged_at_the_end_has_no_forecast_before_it():
    """Communes are assessed once a year: on 20 June "forecast 0 of 40" would be an early warning
    about nothing (the demo mailed one to the provincial police); at the year's end it is the figure."""
    goal = PLAN.target(*COMMUNES)
    june = evaluate(reported(goal.agency), goal, PLAN, end_of_day(date(2024, 6, 20), PLAN.tz))
    assert (june.status, june.forecast) == (S.ON_TRACK, None)
    december = evaluate(
        reported(goal.agency, ("communes_3_good", "2024", 35)),
        goal,
        PLAN,
        end_of_day(date(2024, 12, 20), PLAN.tz),
    )
    assert (december.status, december.forecast) == (S.MISSED, 35)
