"""The plan's `rollups:` (shared/plan/rollups.py): the loader refuses what could count a unit twice."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.plan import load_plan
from shared.plan.model import Plan
from shared.settings import DEFAULT_PLAN

PLAN = load_plan(DEFAULT_PLAN)


def with_rollups(*rollups):
    data = PLAN.model_dump(by_alias=True, exclude={"rollups"})
    return Plan.model_validate({**data, "rollups": list(rollups)})


def test_the_shipped_plan_rolls_district_police_into_the_province_and_townships_into_districts():
    into = {(r.agency, tuple(r.members)) for r in PLAN.rollups}
    district_police = tuple(a.code for a in PLAN.agencies if a.kind == "district_police")
    assert len(district_police) == 10 and ("CA-TINH", district_police) in into
    assert ("UBND-HUONG-HOA", ("UBND-KHE-SANH", "UBND-LAO-BAO")) in into


@pytest.mark.parametrize(
    "rollups, message",
    [
        (
            [{"agency": "CA-TINH", "from": ["CA-NOWHERE"], "indicators": ["drug_cases_detected"]}],
            "unknown agency",
        ),
        ([{"agency": "CA-TINH", "from": ["CA-DONG-HA"], "indicators": ["drug_cases"]}], "unknown indicator"),
        ([{"agency": "CA-TINH", "from": ["CA-TINH"], "indicators": ["drug_cases_detected"]}], "into itself"),
        (
            [
                {"agency": "CA-TINH", "from": ["CA-DONG-HA"], "indicators": ["drug_cases_detected"]},
                {"agency": "CA-HUONG-HOA", "from": ["CA-DONG-HA"], "indicators": ["drug_cases_detected"]},
            ],
            "counted twice",
        ),
        (
            [{"agency": "CA-DONG-HA", "from": ["CA-TINH"], "indicators": ["drug_cases_detected"]}],
            "not within",
        ),
        (
            [
                {
                    "agency": "UBND-HUONG-HOA",
                    "from": ["UBND-KHE-SANH"],
                    "indicators": ["propaganda_sessions"],
                },
                {
                    "agency": "UBND-KHE-SANH",
                    "from": ["UBND-HUONG-HOA"],
                    "indicators": ["propaganda_sessions"],
                },
            ],
            "loops back",
        ),
        (
            [
                {"agency": "CA-TINH", "from": ["CA-DONG-HA"], "indicators": ["drug_cases_detected"]},
                {"agency": "CA-TINH", "from": ["CA-DAKRONG"], "indicators": ["drug_cases_detected"]},
            ],
            "already rolls up",
        ),
    ],
)
def test_a_rollup_that_could_count_twice_or_names_nothing_is_refused(rollups, message):
    with pytest.raises(ValidationError, match=message):
        with_rollups(*rollups)


def test_a_misspelt_key_is_refused():
    with pytest.raises(ValidationError):
        with_rollups(
            {"agency": "CA-TINH", "members_of": ["CA-DONG-HA"], "indicators": ["drug_cases_detected"]}
        )
