"""Authorization and plan rules on typed events, against the shipped plan (pure, no I/O)."""

from datetime import datetime, timedelta
from functools import cache

import pytest

from services.intake.domain.plan_rules import KnownEvent, authorize, check_content, check_correction
from services.intake.entrypoints.examples import examples
from shared.events.models import agency_event_adapter
from shared.plan import load_plan
from shared.plan.index import PlanIndex
from shared.settings import DEFAULT_PLAN

NOW = datetime.fromisoformat("2024-06-20T08:00:00+07:00")
SKEW = timedelta(minutes=5)


@cache
def plan() -> PlanIndex:
    return load_plan(DEFAULT_PLAN).index


def event(kind: str, agency: str = "CA-TINH", data=None, **envelope):
    doc = examples(agency)[kind]
    doc = {**doc, **envelope, "data": {**doc["data"], **(data or {})}}
    return agency_event_adapter.validate_python({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize("kind", list(examples()))
def test_every_example_passes_for_its_agency(kind):
    e = event(kind)
    assert authorize(e, "CA-TINH", plan()) is None
    assert check_content(e, plan(), NOW, SKEW) == []


@pytest.mark.parametrize(
    "agency, e, reason, pointer",
    [
        ("HQ", event("report.submitted"), "source-mismatch", "/source"),
        (
            "CA-DAKRONG",
            event("indicator.reported", "CA-DAKRONG", {"unit_code": "HH-KHE-SANH"}),
            "foreign-unit",
            "/data/unit_code",
        ),
        (
            "CA-DAKRONG",
            event("indicator.reported", "CA-DAKRONG", {"unit_code": "QT"}),
            "foreign-unit",
            "/data/unit_code",
        ),
        (
            "HQ",
            event("indicator.reported", "HQ", {"indicator": "drug_users_managed", "unit_code": None}),
            "indicator-not-assigned",
            "/data/indicator",
        ),
        (
            "UBND-KHE-SANH",
            event("commune.assessed", "UBND-KHE-SANH", {"unit_code": "HH-KHE-SANH"}),
            "indicator-not-assigned",
            "/type",
        ),
    ],
)
def test_authorization(agency, e, reason, pointer):
    problem = authorize(e, agency, plan())
    assert problem.reason == reason and problem.status == 403
    assert problem.errors[0].pointer == pointer


def test_own_subordinate_units_are_allowed():
    e = event("indicator.reported", "CA-DAKRONG", {"unit_code": "DK-TA-RUT"})
    assert authorize(e, "CA-DAKRONG", plan()) is None


def test_the_forbidden_indicator_message_names_only_the_agencys_own_indicators():
    problem = authorize(
        event("indicator.reported", "HQ", {"indicator": "drug_users_managed", "unit_code": None}),
        "HQ",
        plan(),
    )
    assert problem.detail.endswith("yours are: drug_cases_detected, drug_seizures_heroin_g")


@pytest.mark.parametrize(
    "e, reason, pointer",
    [
        (
            event("indicator.reported", data={"indicator": "drug_cases"}),
            "unknown-indicator",
            "/data/indicator",
        ),
        (event("indicator.reported", data={"period": "2023-12"}), "outside-plan-year", "/data/period"),
        (event("report.submitted", data={"period": "2025"}), "outside-plan-year", "/data/period"),
        (event("indicator.reported", data={"value": 1001}), "value-above-cap", "/data/value"),
        (event("indicator.reported", data={"unit_code": "NOWHERE"}), "unknown-unit", "/data/unit_code"),
        (event("activity.recorded", data={"activity": "concert"}), "unknown-activity", "/data/activity"),
        (event("activity.recorded", data={"date": "2023-11-30"}), "outside-plan-year", "/data/date"),
        (event("activity.recorded", data={"date": "2024-06-22"}), "time-in-future", "/data/date"),
        (event("commune.assessed", data={"year": 2023}), "outside-plan-year", "/data/year"),
        (event("report.submitted", time="2024-06-20T08:05:01+07:00"), "time-in-future", "/time"),
    ],
)
def test_plan_rules_reject(e, reason, pointer):
    problem = check_content(e, plan(), NOW, SKEW)
    assert problem.reason == reason and problem.status == 422, problem
    assert problem.errors[0].pointer == pointer


def test_time_within_the_skew_allowance_is_fine():
    e = event("report.submitted", time="2024-06-20T08:05:00+07:00")
    assert check_content(e, plan(), NOW, SKEW) == []


def test_activity_dated_after_the_december_cutoff_belongs_to_the_plan_year():
    assert check_content(event("activity.recorded", data={"date": "2023-12-20"}), plan(), NOW, SKEW) == []


def test_implausible_values_are_warnings_not_rejections():
    # Tà Rụt has 4,500 inhabitants; 2 % of them is the plausible ceiling for users under management.
    e = event(
        "indicator.reported",
        "CA-DAKRONG",
        {"indicator": "drug_users_managed", "value": 95, "unit_code": "DK-TA-RUT"},
    )
    [warning] = check_content(e, plan(), NOW, SKEW)
    assert warning.code == "above-population" and "4500" in warning.detail
    crowd = event("activity.recorded", data={"participants": 14001})
    assert [w.code for w in check_content(crowd, plan(), NOW, SKEW)] == ["participants-above-population"]


def test_corrections():
    fix = event("indicator.corrected")
    unknown = check_correction(fix, None, plan())
    assert unknown.reason == "correction-target-unknown" and unknown.errors[0].pointer == "/data/corrects"
    activity = KnownEvent("vn.gov.pcmt.activity.recorded.v1", None, "d")
    assert "activity.recorded event" in check_correction(fix, activity, plan()).detail
    reported = KnownEvent("vn.gov.pcmt.indicator.reported.v1", "drug_cases_detected", "d")
    assert check_correction(fix, reported, plan()) is None
    too_big = event("indicator.corrected", data={"value": 5000})
    assert check_correction(too_big, reported, plan()).reason == "value-above-cap"


def test_a_correction_of_a_correction_is_accepted_under_the_reports_cap():
    """The registry keeps the corrected report's indicator on a correction (`service_layer`)."""
    earlier_fix = KnownEvent("vn.gov.pcmt.indicator.corrected.v1", "drug_cases_detected", "d")
    assert check_correction(event("indicator.corrected"), earlier_fix, plan()) is None
    too_big = event("indicator.corrected", data={"value": 5000})
    assert check_correction(too_big, earlier_fix, plan()).reason == "value-above-cap"


def test_an_event_time_before_the_plan_year_window_and_its_tolerance_is_outside_the_plan_year():
    """The 2024 plan's data window opens on 15 Dec 2023 (cut-off 14); a month of slack before it."""
    earliest = plan().earliest
    assert earliest == datetime.fromisoformat("2023-11-14T00:00:00+07:00")
    assert check_content(event("report.submitted", time=earliest.isoformat()), plan(), NOW, SKEW) == []
    for time in ((earliest - timedelta(seconds=1)).isoformat(), "2000-01-01T00:00:00+14:00"):
        problem = check_content(event("report.submitted", time=time), plan(), NOW, SKEW)
        assert problem.reason == "outside-plan-year" and problem.errors[0].pointer == "/time", time
        assert "before the plan year 2024" in problem.detail
