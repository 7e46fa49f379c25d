"""Roll-ups across agencies (issue 15): district police into the provincial police's
province-wide figure, townships into their district, never counting a unit twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold
from services.aggregator.domain.rollup import province_wide, rolled
from tests.aggregator.helpers import PLAN

VN = timezone(timedelta(hours=7))
CASES, SESSIONS = "drug_cases_detected", "propaganda_sessions"


def ledgers(*figures):
    """(agency, indicator, value[, unit])"""
    facts = []
    for i, (agency, indicator, value, *unit) in enumerate(figures):
        data = {"indicator": indicator, "period": "2024", "value": value}
        if unit:
            data["unit_code"] = unit[0]
        facts.append(
            Fact(f"/agencies/{agency}", f"f{i}", agency, "reported", datetime(2024, 6, 1, tzinfo=VN), i, data)
        )
    return fold(facts, PLAN)


POLICE = [("CA-TINH", CASES, 100), ("CA-DONG-HA", CASES, 10), ("CA-HUONG-HOA", CASES, 12)]

# (case, figures, agency, indicator, rolled figure, own figure)
ROLLED = [
    ("the provincial police: its own and its districts'", POLICE, "CA-TINH", CASES, 122, 100),
    ("a district's 0 adds nothing", [*POLICE, ("CA-DAKRONG", CASES, 0)], "CA-TINH", CASES, 122, 100),
    ("the districts alone when the province has none", POLICE[1:], "CA-TINH", CASES, 22, None),
    (
        "a district's figure by unit counts once (its communes', the topmost)",
        [("CA-HUONG-HOA", CASES, 4, "HH-KHE-SANH"), ("CA-HUONG-HOA", CASES, 3, "HH-LAO-BAO")],
        "CA-TINH",
        CASES,
        7,
        None,
    ),
    (
        "townships into their district",
        [("UBND-HUONG-HOA", SESSIONS, 3), ("UBND-KHE-SANH", SESSIONS, 2), ("UBND-LAO-BAO", SESSIONS, 1)],
        "UBND-HUONG-HOA",
        SESSIONS,
        6,
        3,
    ),
    ("nobody reported", [], "CA-TINH", CASES, None, None),
]


@pytest.mark.parametrize("case, figures, agency, indicator, actual, own", ROLLED, ids=[c[0] for c in ROLLED])
def test_an_agencys_rolled_figure(case, figures, agency, indicator, actual, own):
    r = rolled(ledgers(*figures), PLAN, agency, indicator, "2024")
    assert (r["actual"], r["own"]) == (actual, own)


def test_the_province_wide_figure_counts_every_agency_once():
    figures = [
        *POLICE,
        ("BDBP", CASES, 5),
        ("HQ", CASES, 2),
        ("UBND-HUONG-HOA", SESSIONS, 3),
        ("UBND-KHE-SANH", SESSIONS, 2),
        ("UBND-LAO-BAO", SESSIONS, 1),
        ("UBND-KRONG-KLANG", SESSIONS, 4),
        ("SYT", SESSIONS, 10),
    ]
    cases = province_wide(ledgers(*figures), PLAN, CASES, "2024")
    assert cases["actual"] == 100 + 10 + 12 + 5 + 2
    by_agency = {a["agency"]: a["actual"] for a in cases["agencies"]}
    assert "CA-HUONG-HOA" not in by_agency and by_agency["CA-TINH"] == 122  # only through the province
    sessions = province_wide(ledgers(*figures), PLAN, SESSIONS, "2024")
    assert sessions["actual"] == 3 + 2 + 1 + 4 + 10  # the townships once, inside Hướng Hóa's
    assert {a["agency"] for a in sessions["agencies"]} >= {"UBND-HUONG-HOA", "UBND-DAKRONG", "SYT"}
    assert not {"UBND-KHE-SANH", "UBND-LAO-BAO", "UBND-KRONG-KLANG"} & {
        a["agency"] for a in sessions["agencies"]
    }
