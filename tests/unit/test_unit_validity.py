"""Units in force and their successors (issue 20): an event naming a unit on a day it is not in
force is refused (`unit-not-in-force`) naming the unit that took over; the plan checks that
successors exist and are in force from the day their predecessor ends."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pytest

from shared.plan import PlanError, load_plan
from shared.plan.index import Rejected
from shared.settings import DEFAULT_PLAN

OLD = "  - {code: HH-KHE-SANH, name: Thị trấn Khe Sanh, kind: commune, parent: HUONG-HOA, valid_to: 2025-06-30, population: 14000}"
# a sample merger in the middle of the 2024 plan year: Khe Sanh and Tân Hợp become one township
MERGED = (
    "  - {code: HH-KHE-SANH, name: Thị trấn Khe Sanh, kind: commune, parent: HUONG-HOA, valid_to: 2024-06-30,"
    " successors: [HH-KHE-SANH-2], population: 14000}\n"
    "  - {code: HH-KHE-SANH-2, name: Thị trấn Khe Sanh (sau sáp nhập), kind: commune, parent: HUONG-HOA,"
    " valid_from: 2024-07-01, valid_to: 2025-06-30, population: 17000}"
)


def _plan(units: str = MERGED):
    text = DEFAULT_PLAN.read_text(encoding="utf-8")
    assert OLD in text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.yaml"
        path.write_text(text.replace(OLD, units), encoding="utf-8")
        return load_plan(path)


def test_a_unit_that_ended_is_refused_naming_its_successor():
    plan = _plan()
    index = plan.index
    index.check_activity_day("2024-06-30", "HH-KHE-SANH")  # its last day
    with pytest.raises(Rejected) as err:
        index.check_activity_day("2024-07-01", "HH-KHE-SANH")
    assert err.value.reason == "unit-not-in-force" and err.value.where == ("data", "unit_code")
    assert err.value.detail == (
        "unit HH-KHE-SANH (Thị trấn Khe Sanh) ended on 2024-06-30; from 2024-07-01 its territory "
        "belongs to HH-KHE-SANH-2 (Thị trấn Khe Sanh (sau sáp nhập)): report for it"
    )
    with pytest.raises(Rejected, match="in force only from 2024-07-01"):
        index.check_activity_day("2024-06-30", "HH-KHE-SANH-2")
    assert plan.successors_on("HH-KHE-SANH", date(2024, 8, 1)) == ["HH-KHE-SANH-2"]


def test_a_report_needs_the_unit_in_force_on_some_day_of_its_period():
    index = _plan().index
    index.report_limit("UBND-KHE-SANH", "propaganda_sessions", "2024-06", "HH-KHE-SANH")  # 15 May .. 14 Jun
    index.report_limit(
        "UBND-KHE-SANH", "propaganda_sessions", "2024-07", "HH-KHE-SANH"
    )  # to 14 Jul: overlaps
    with pytest.raises(Rejected, match="ended on 2024-06-30"):
        index.report_limit("UBND-KHE-SANH", "propaganda_sessions", "2024-08", "HH-KHE-SANH")


@pytest.mark.parametrize(
    ("units", "message"),
    [
        (
            MERGED.replace("successors: [HH-KHE-SANH-2]", "successors: [HH-KHE-SANH-9]"),
            "unknown unit 'HH-KHE-SANH-9'",
        ),
        (
            MERGED.replace("valid_from: 2024-07-01", "valid_from: 2024-08-01"),
            "HH-KHE-SANH-2 is not in force on 2024-07-01",
        ),
        (MERGED.replace("valid_to: 2024-06-30,", ""), "a unit with successors ends: give its valid_to"),
    ],
)
def test_broken_successors_are_refused(units: str, message: str):
    with pytest.raises(PlanError) as err:
        _plan(units)
    assert any(message in i.message and i.field.startswith("units[") for i in err.value.errors), (
        err.value.errors
    )
