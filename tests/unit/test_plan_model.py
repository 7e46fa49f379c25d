"""The plan model: lookups, target values, deadlines, escalation, and cross-validation."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shared.plan import Period, Plan, load_plan

SHIPPED = Path(__file__).resolve().parents[2] / "plans" / "quang-tri-2024.yaml"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(SHIPPED)


# -- the shipped plan -------------------------------------------------------------------------


def test_shipped_plan_is_faithful_to_the_brief(plan: Plan) -> None:
    assert (plan.code, plan.year, plan.cutoff_day) == ("29/KH-BCĐ", 2024, 14)
    districts = {u.name for u in plan.units if u.kind == "district"}
    assert len(districts) == 10 and "Huyện Hướng Hóa" in districts and "Huyện đảo Cồn Cỏ" in districts
    assert plan.steering_committee().code == "BCD138"
    cases = plan.target("CA-TINH", "drug_cases_detected", "2024")
    assert cases is not None and cases.factor == 1.05 and cases.baseline_year == 2023
    assert {t.kind for t in plan.targets} == {"absolute", "baseline_relative", "ratio", "milestone"}
    assert plan.sample_data_note
    assert all(leader.email.endswith(".example") for a in plan.agencies for leader in a.leaders)
    assert plan.commune_assessment_indicator == "communes_3_good"


def test_shipped_plan_lists_every_commune_of_2024_under_its_district(plan: Plan) -> None:
    """The 125 communes, wards and townships of 2024 (Resolution 832/NQ-UBTVQH14), by district."""
    communes = [u for u in plan.units if u.kind == "commune"]
    per_district = Counter(u.parent for u in communes)
    assert per_district == {
        "DONG-HA": 9, "QUANG-TRI-TX": 5, "VINH-LINH": 18, "GIO-LINH": 17, "CAM-LO": 8,
        "TRIEU-PHONG": 18, "HAI-LANG": 16, "HUONG-HOA": 21, "DAKRONG": 13,
    }  # fmt: skip
    names = {(u.parent, u.name) for u in communes}
    assert len(names) == 125  # no commune twice in a district
    assert {
        ("HUONG-HOA", "Xã Lìa"),
        ("HAI-LANG", "Thị trấn Diên Sanh"),
        ("QUANG-TRI-TX", "Xã Hải Lệ"),
    } <= names
    # every commune committee that reports stands on a listed commune
    assert all(plan.unit(a.unit).kind == "commune" for a in plan.agencies if a.kind == "commune_committee")


def test_lookups(plan: Plan) -> None:
    assert plan.agency("CA-TINH").name_en == "Quang Tri Provincial Police"
    assert (
        plan.agency("SYT").display_name() == "Sở Y tế"
        and plan.agency("SYT").display_name("en") == "Department of Health"
    )
    assert plan.indicator("propaganda_sessions").unit_label("en") == "sessions"
    assert plan.unit("HUONG-HOA").kind == "district"
    counts = plan.activity_type("propaganda_session").counts_into
    assert [(c.indicator, c.measure) for c in counts] == [
        ("propaganda_sessions", "count"),
        ("propaganda_participants", "participants"),
    ]
    for lookup in (plan.agency, plan.indicator, plan.unit, plan.activity_type):
        with pytest.raises(KeyError):
            lookup("NOPE")


def test_unit_hierarchy(plan: Plan) -> None:
    assert plan.unit_ancestors("HH-KHE-SANH") == ["HUONG-HOA", "QT"]
    assert plan.unit_ancestors("QT") == []
    huong_hoa = plan.unit_descendants("HUONG-HOA")
    assert len(huong_hoa) == 21 and {"HH-KHE-SANH", "HH-LAO-BAO", "HH-TAN-THANH", "HH-LIA"} <= huong_hoa
    assert all(plan.unit(u).parent == "HUONG-HOA" for u in huong_hoa)
    assert len(plan.unit_descendants("QT")) == len(plan.units) - 1
    assert plan.unit_descendants("DK-A-NGO") == set()
    assert plan.is_own_unit("CA-HUONG-HOA", "HUONG-HOA")
    assert plan.is_own_unit("CA-HUONG-HOA", "HH-LAO-BAO")
    assert not plan.is_own_unit("CA-HUONG-HOA", "DK-A-NGO")
    assert not plan.is_own_unit("CA-HUONG-HOA", "QT")
    assert plan.is_own_unit("CA-TINH", "DK-A-NGO")
    assert not plan.is_own_unit("CA-TINH", "UNKNOWN")
    # the 2025 reform: units carry validity dates
    assert plan.unit("HUONG-HOA").active_on(date(2024, 6, 1))
    assert not plan.unit("HUONG-HOA").active_on(date(2025, 7, 1))


def test_target_values(plan: Plan) -> None:
    cases = plan.target("CA-TINH", "drug_cases_detected", Period.parse("2024"))
    assert cases is not None and cases.target_value() == pytest.approx(182 * 1.05)
    dossiers = plan.target("CA-TINH", "compulsory_rehab_dossiers", "2024")
    assert (
        dossiers is not None and dossiers.kind == "ratio" and dossiers.denominator == "non_voluntary_addicts"
    )
    assert dossiers.target_value() is None  # unknown until the denominator's actual is known
    assert dossiers.target_value(denominator_actual=37) == 37
    action = plan.target("TINH-DOAN", "action_month_activities", "2024")
    assert action is not None and action.kind == "milestone" and action.target_value() == 12
    assert action.due == date(2024, 6, 30)
    monthly = plan.target("UBND-KHE-SANH", "propaganda_sessions", "2024-06")
    assert monthly is not None and monthly.target_value() == 1
    assert plan.target("UBND-KHE-SANH", "propaganda_sessions", "2024-Q2") is None


def test_expected_fraction_of_targets(plan: Plan) -> None:
    action = plan.target("TINH-DOAN", "action_month_activities", "2024")
    assert action is not None
    assert action.expected_fraction(date(2024, 4, 14), plan.cutoff_day) == 0.0
    assert action.expected_fraction(date(2024, 6, 14), plan.cutoff_day) == pytest.approx(
        5 / (1 + 4 + 4 * 16 / 30)
    )
    assert action.expected_fraction(date(2024, 6, 30), plan.cutoff_day) == 1.0
    linear = plan.target("CA-HUONG-HOA", "drug_cases_detected", "2024")
    assert linear is not None and linear.expected_fraction(
        date(2024, 6, 14), plan.cutoff_day
    ) == pytest.approx(183 / 366)


def test_targets_for_and_indicators_for(plan: Plan) -> None:
    assert len(plan.targets_for(agency="UBND-KHE-SANH")) == 12
    q2 = {t.agency for t in plan.targets_for(period="2024-Q2")}
    # every district-level committee: one session a quarter (the district-propaganda-quarterly rule)
    assert q2 == {a.code for a in plan.agencies if a.kind == "district_committee"} and len(q2) == 10
    assert (
        plan.targets_for(agency="UBND-DAKRONG", period=Period.parse("2024-Q3"))[0].indicator
        == "propaganda_sessions"
    )
    assert len(plan.targets_for()) == len(plan.targets)
    police = plan.indicators_for("CA-TINH")
    assert {
        "drug_cases_detected",
        "compulsory_rehab_dossiers",
        "non_voluntary_addicts",
        "communes_3_good",
    } <= police
    assert plan.indicators_for("BCD138") == set()


def test_deadlines_follow_the_police_cascade(plan: Plan) -> None:
    june = Period.parse("2024-06")
    district, province = plan.deadline("CA-HUONG-HOA", june), plan.deadline("CA-TINH", june)
    assert district == datetime.combine(date(2024, 6, 15), time.max, tzinfo=VN)
    assert province == datetime.combine(date(2024, 6, 17), time.max, tzinfo=VN)
    assert district < province
    assert district.utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]
    assert plan.deadline("SGDDT", Period.parse("2024-Q2")).date() == date(2024, 6, 19)
    assert plan.deadline("MTTQ", Period.parse("2024-H2")).date() == date(2024, 12, 21)
    assert plan.deadline("CA-TINH", Period.parse("2024-01")).date() == date(2024, 1, 17)
    with pytest.raises(LookupError, match="no reporting rule"):
        plan.deadline("BCD138", june)


def test_reporting_periods(plan: Plan) -> None:
    assert [str(p) for p in plan.reporting_periods("CA-TINH")][:2] == ["2024-01", "2024-02"]
    assert len(plan.reporting_periods("CA-TINH")) == 12
    assert [str(p) for p in plan.reporting_periods("SGDDT")] == ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"]
    assert [str(p) for p in plan.reporting_periods("MTTQ")] == ["2024-H1", "2024-H2"]
    assert plan.reporting_periods("BCD138") == []
    rule = plan.reporting_rule("CA-TINH")
    assert rule is not None and rule.frequency == "monthly" and rule.submission_days_after_cutoff == 3
    assert plan.reporting_rule("BCD138") is None


def test_escalation_chain(plan: Plan) -> None:
    def chain(code: str) -> list[str]:
        return [a.code for a in plan.escalation_chain(code)]

    assert chain("CA-HUONG-HOA") == ["CA-TINH", "BCD138"]
    assert chain("UBND-KHE-SANH") == ["UBND-HUONG-HOA", "BCD138"]
    assert chain("SYT") == ["BCD138"]
    assert chain("BCD138") == []


def test_plan_is_frozen(plan: Plan) -> None:
    with pytest.raises(ValidationError):
        plan.year = 2025  # type: ignore[misc]


# -- validation on a minimal plan ---------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "code": "T-1",
    "title": "Minimal",
    "year": 2024,
    "sample_data_note": "samples",
    "units": [
        {"code": "P", "name": "Province", "kind": "province"},
        {"code": "D", "name": "District", "kind": "district", "parent": "P"},
    ],
    "agencies": [
        {"code": "SC", "name_vi": "BCĐ", "name_en": "SC", "unit": "P", "is_steering_committee": True},
        {"code": "POL", "name_vi": "CA", "name_en": "Police", "unit": "D", "parent": "SC"},
        {"code": "ROOT", "name_vi": "Sở", "name_en": "Dept", "unit": "P"},
    ],
    "indicators": [
        {
            "code": "cases",
            "name_vi": "Vụ",
            "name_en": "Cases",
            "unit_vi": "vụ",
            "unit_en": "cases",
            "aggregation": "sum",
            "max_value": 100,
        },
        {
            "code": "addicts",
            "name_vi": "Người",
            "name_en": "Addicts",
            "unit_vi": "người",
            "unit_en": "persons",
            "aggregation": "sum",
            "max_value": 100,
        },
    ],
    "reporting": [
        {
            "agency": "POL",
            "frequency": "monthly",
            "indicators": ["cases", "addicts"],
            "submission_days_after_cutoff": 1,
        },
        {
            "agency": "ROOT",
            "frequency": "quarterly",
            "indicators": ["cases"],
            "submission_days_after_cutoff": 5,
        },
    ],
    "targets": [
        {"agency": "POL", "indicator": "cases", "period": 2024, "kind": "absolute", "value": 10},
    ],
}


def _plan(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        Plan.model_validate(data)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def _target(**fields: Any) -> dict[str, Any]:
    return {"agency": "POL", "indicator": "cases", "period": "2024", **fields}


def test_minimal_plan_is_valid_and_a_root_agency_escalates_to_the_committee() -> None:
    plan = Plan.model_validate(_plan())
    assert [a.code for a in plan.escalation_chain("ROOT")] == ["SC"]
    assert plan.thresholds.on_track == 0.9 and plan.thresholds.at_risk == 0.7
    assert plan.timezone == "Asia/Ho_Chi_Minh" and plan.targets[0].period == "2024"


@pytest.mark.parametrize(
    ("target", "loc", "message"),
    [
        (_target(kind="absolute"), ("value",), "Field required"),
        (_target(kind="baseline_relative", baseline_year=2023, factor=1.05), ("baseline_value",), "Field required"),
        (_target(kind="ratio", factor=1.0), ("denominator",), "Field required"),
        (_target(kind="milestone", value=3), ("due",), "Field required"),
        (_target(kind="absolute", value=1, factor=2), ("factor",), "not used by absolute targets"),
        (_target(kind="absolute", value=1, pace="profile"), ("profile",), "Field required"),
        (_target(kind="absolute", value=1, profile=[1] * 12), ("profile",), "only read with pace: profile"),
        (_target(kind="absolute", value=1, pace="profile", profile=[0] * 12), ("profile",), "not all zero"),
        (_target(kind="absolute", value=1, pace="profile", profile=[1] * 11 + [-1]), ("profile",), "non-negative"),
        (_target(kind="absolute", value=1, period="2024-Q5"), ("period",), "invalid period '2024-Q5'"),
        (_target(kind="absolute", value=1, period="2025"), ("period",), "outside the plan year 2024"),
        (_target(kind="baseline_relative", baseline_year=2024, baseline_value=1, factor=1), ("baseline_year",),
         "before the plan year"),
        (_target(kind="milestone", value=1, due=date(2024, 12, 20)), ("due",), "outside the window of 2024"),
        (_target(kind="ratio", factor=1, denominator="cases"), ("denominator",), "its own denominator"),
        (_target(kind="ratio", factor=1, denominator="nope"), ("denominator",), "unknown indicator 'nope'"),
        (_target(kind="absolute", value=1, agency="ROOT", indicator="addicts"), ("indicator",),
         "addicts is not in ROOT's reporting rule"),
        (_target(kind="absolute", value=1, agency="ROOT", period="2024-05"), ("period",),
         "2024-05 is finer than ROOT's quarterly reporting"),
        (_target(kind="absolute", value=1, agency="SC"), ("agency",), "SC has a target but no reporting rule"),
    ],
)  # fmt: skip
def test_target_problems_are_located(target: dict[str, Any], loc: tuple[Any, ...], message: str) -> None:
    errors = _errors(_plan(targets=[target]))
    assert [e for e in errors if e[0] == ("targets", 0, *loc) and message in e[1]], errors


def test_plan_level_problems_are_located() -> None:
    data = _plan()
    data["agencies"][1]["is_steering_committee"] = True
    assert _errors(data) == [
        (("agencies", 1, "is_steering_committee"), "a second steering committee; SC is already one")
    ]

    data = _plan()
    data["agencies"][0]["is_steering_committee"] = False
    assert ("agencies",) in [loc for loc, _ in _errors(data)]

    data = _plan()
    data["agencies"][0]["parent"] = "POL"
    assert [loc for loc, msg in _errors(data) if "loops back" in msg] == [
        ("agencies", 0, "parent"),
        ("agencies", 1, "parent"),
    ]

    data = _plan()
    data["units"][0]["parent"] = "D"
    assert (("units", 0, "parent"), "a province cannot sit under a district (D)") in _errors(data)

    data = _plan()
    data["indicators"].append(copy.deepcopy(data["indicators"][0]))
    assert _errors(data) == [(("indicators", 2, "code"), "duplicate code 'cases'")]

    data = _plan(targets=MINIMAL["targets"] * 2)
    assert _errors(data) == [(("targets", 1), "a second target for POL / cases / 2024")]

    data = _plan(reporting=[*MINIMAL["reporting"], MINIMAL["reporting"][0]])
    assert _errors(data) == [(("reporting", 2, "agency"), "POL already has a reporting rule")]

    data = _plan(activity_types=[{"code": "x", "name_vi": "x", "name_en": "x",
                                  "counts_into": [{"indicator": "case", "measure": "count"}]}])  # fmt: skip
    assert _errors(data) == [(("activity_types", 0, "counts_into", 0, "indicator"),
                              "unknown indicator 'case' (did you mean 'cases'?)")]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"cutoff_day": 28}, ("cutoff_day",)),
        ({"timezone": "Asia/Hanoi_City"}, ("timezone",)),
        ({"thresholds": {"on_track": 0.7, "at_risk": 0.9}}, ("thresholds", "at_risk")),
        ({"colour": "red"}, ("colour",)),  # typos in the file are not silently ignored
        ({"commune_assessment_indicator": "three_good"}, ("commune_assessment_indicator",)),
    ],
)
def test_settings_are_checked(changes: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert loc in [e[0] for e in _errors(_plan(**changes))]
