"""Intake with two plan years loaded: each event is checked by the plan of its own reporting
year, and one of a year no plan holds is refused at its field, naming the plans loaded."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.intake.entrypoints.examples import examples
from services.intake.service_layer.intake import Intake
from shared.plan.book import PlanBook
from tests.intake.unit.test_submit import intake_on_fakes, plan
from tests.plans import NEXT_YEAR_CODE, next_year_plan

IN_2025 = datetime.fromisoformat("2025-01-20T08:00:00+07:00")


@pytest.fixture
async def intake() -> Intake:
    return await intake_on_fakes(PlanBook.of(plan().plan, next_year_plan()), IN_2025)


def of(kind: str, id: str, **data) -> dict:
    doc = examples()[kind]
    return {**doc, "id": id, "time": IN_2025.isoformat(), "data": {**doc["data"], **data}}


async def test_events_of_both_years_are_accepted_each_by_its_plan(intake):
    outcomes = await intake.submit(
        [
            of("indicator.reported", "late-december", period="2024-12"),
            of("indicator.reported", "january", period="2025-01"),
            of("report.submitted", "december-report", period="2024-12"),
        ],
        agency="CA-TINH",
        path="http",
    )
    assert [(o.event_id, o.status) for o in outcomes] == [
        ("late-december", "accepted"),
        ("january", "accepted"),
        ("december-report", "accepted"),
    ]


async def test_an_activity_after_14_december_belongs_to_the_next_plan_year(intake):
    doc = examples()["activity.recorded"]
    [outcome] = await intake.submit(
        [of("activity.recorded", "dec-20", date="2024-12-20")],
        agency=doc["source"].rsplit("/", 1)[1],
        path="http",
    )
    assert outcome.status == "accepted", outcome.problem


async def test_a_period_of_no_loaded_plan_is_refused_naming_the_plans(intake):
    [outcome] = await intake.submit(
        [of("indicator.reported", "too-far", period="2026-03")], agency="CA-TINH", path="http"
    )
    problem = outcome.problem.as_dict()
    assert problem["reason"] == "outside-plan-year"
    assert (
        f"no plan is loaded for the reporting year 2026; plans loaded: 2024 (29/KH-BCĐ), 2025 ({NEXT_YEAR_CODE})"
        in problem["detail"]
    )
    assert [e["pointer"] for e in problem["errors"]] == ["/data/period"]
    assert "2024, 2025" in problem["errors"][0]["detail"]


def test_the_form_reports_last_years_december_until_its_deadline_then_the_new_year():
    from datetime import date

    from services.intake.entrypoints.form import plan_reported_now, reporting_period

    both = PlanBook.of(plan().plan, next_year_plan())
    last_year, this_year = both.indexes
    deadline = last_year.deadline("CA-TINH", last_year.reporting_periods("CA-TINH")[-1]).date()
    before, after = deadline, date.fromordinal(deadline.toordinal() + 1)
    assert before > date(2024, 12, 14)  # the 2025 reporting year has begun by then
    chosen = plan_reported_now(both, "CA-TINH", before)
    assert chosen is last_year and str(reporting_period(chosen, "CA-TINH", before)) == "2024-12"
    chosen = plan_reported_now(both, "CA-TINH", after)
    assert chosen is this_year and str(reporting_period(chosen, "CA-TINH", after)) == "2025-01"
    # a day no plan holds: the newest plan (its own rule keeps the form inside its year)
    assert plan_reported_now(both, "CA-TINH", date(2026, 3, 1)) is this_year


async def test_a_correction_made_in_the_new_year_corrects_last_years_figure(intake):
    await intake.submit(
        [of("indicator.reported", "december", period="2024-12", value=4)], agency="CA-TINH", path="http"
    )
    doc = examples()["indicator.corrected"]
    fix = {
        **doc,
        "id": "fix",
        "time": IN_2025.isoformat(),
        "data": {**doc["data"], "corrects": "december", "value": 5},
    }
    [outcome] = await intake.submit([fix], agency="CA-TINH", path="http")
    assert outcome.status == "accepted", outcome.problem


async def test_after_the_reform_a_district_committee_is_refused_naming_its_successors():
    from shared.plan.book import load_plans
    from shared.settings import REPO_ROOT

    august = datetime.fromisoformat("2025-08-05T08:00:00+07:00")
    shipped = await intake_on_fakes(load_plans(REPO_ROOT / "plans"), august)
    report = {
        **of("indicator.reported", "july"),
        "time": august.isoformat(),
        "source": "/agencies/UBND-HUONG-HOA",
    }
    report["data"] = {"indicator": "propaganda_sessions", "period": "2025-07", "value": 2}
    [refused] = await shipped.submit([report], agency="UBND-HUONG-HOA", path="http")
    problem = refused.problem.as_dict()
    assert problem["reason"] == "agency-not-in-force" and problem["status"] == 422
    assert [e["pointer"] for e in problem["errors"]] == ["/source"]
    assert (
        "2025-07 is reported by UBND-XA-KHE-SANH, UBND-XA-LAO-BAO, UBND-XA-HUONG-PHUNG"
        in (problem["errors"][0]["detail"])
    )
    successor = {**report, "id": "july-new", "source": "/agencies/UBND-XA-KHE-SANH"}
    [accepted] = await shipped.submit([successor], agency="UBND-XA-KHE-SANH", path="http")
    assert accepted.status == "accepted", accepted.problem


def test_the_form_keeps_an_agency_to_the_periods_it_reports():
    from datetime import date

    from services.intake.entrypoints.form import reporting_period
    from shared.plan.book import load_plans
    from shared.settings import REPO_ROOT

    plan_2025 = load_plans(REPO_ROOT / "plans").index_for(year=2025)
    assert str(reporting_period(plan_2025, "UBND-HUONG-HOA", date(2025, 8, 5))) == "2025-06"  # its last
    assert str(reporting_period(plan_2025, "UBND-XA-KHE-SANH", date(2025, 3, 5))) == "2025-07"  # its first
    assert str(reporting_period(plan_2025, "UBND-XA-KHE-SANH", date(2025, 8, 5))) == "2025-08"


def test_the_form_tells_an_agency_of_the_reform_it_has_ended_or_when_it_starts():
    from datetime import date

    from services.intake.entrypoints.form import tenure_text
    from shared.plan.book import load_plans
    from shared.settings import REPO_ROOT

    plan_2025 = load_plans(REPO_ROOT / "plans").index_for(year=2025)
    ended = tenure_text(plan_2025, "UBND-HUONG-HOA", date(2025, 8, 5), "vi")
    assert ended == (
        "Cơ quan đã kết thúc hoạt động ngày 30/06/2025. Từ ngày 01/07/2025, việc báo cáo do Ủy ban nhân "
        "dân xã Khe Sanh, Ủy ban nhân dân xã Lao Bảo, Ủy ban nhân dân xã Hướng Phùng thực hiện; tại đây chỉ "
        "còn báo cáo các kỳ trước đó."
    )
    starts = tenure_text(plan_2025, "UBND-XA-LAO-BAO", date(2025, 3, 5), "vi")
    assert (
        starts
        == "Cơ quan bắt đầu hoạt động từ ngày 01/07/2025; kỳ báo cáo đầu tiên của cơ quan là tháng 7/2025."
    )
    assert tenure_text(plan_2025, "UBND-HUONG-HOA", date(2025, 6, 30), "vi") is None  # its last day
    assert tenure_text(plan_2025, "CA-TINH", date(2025, 8, 5), "en") is None
