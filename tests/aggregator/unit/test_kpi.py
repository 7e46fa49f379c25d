"""KPI evaluation: target kinds, pace (linear and profiled), forecast, status bands, timeliness."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from services.aggregator.domain.changes import kpi_changes, report_changes
from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold
from services.aggregator.domain.kpi import end_of_day, evaluate, evaluate_agency, report_status
from services.aggregator.domain.ledger import AgencyLedger
from shared.events.models import KpiStatus, ReportStatus
from shared.plan import Indicator, Target
from tests.aggregator.helpers import PLAN

VN = timezone(timedelta(hours=7))


def ledger_with(agency, indicator, period, value, extra=()):
    f = Fact(
        f"/agencies/{agency}",
        f"r-{indicator}",
        agency,
        "reported",
        datetime(2024, 1, 1, tzinfo=VN),
        0,
        {"indicator": indicator, "period": period, "value": value},
    )
    return fold([f, *extra], PLAN)[agency]


def at(day: str) -> datetime:
    return end_of_day(date.fromisoformat(day), PLAN.tz)


def test_baseline_relative_target_pace_and_forecast():
    # CA-TINH: 105 % of 182 cases; its pace follows the 2023 monthly profile. On 18 June its
    # June report (cut-off 14 June, deadline 17 June) is due, so it is judged at 14 June.
    kpi = evaluate(
        ledger_with("CA-TINH", "drug_cases_detected", "2024", 100),
        PLAN.target("CA-TINH", "drug_cases_detected", "2024"),
        PLAN,
        at("2024-06-18"),
    )
    assert kpi.target == 192  # 191.1 cases, rounded up: a count's target is whole
    fraction = PLAN.target("CA-TINH", "drug_cases_detected", "2024").expected_fraction(
        date(2024, 6, 14), PLAN.cutoff_day
    )
    assert kpi.expected == math.floor(192 * fraction)  # whole cases expected by now
    assert kpi.forecast == pytest.approx(100 / fraction)
    assert kpi.status == KpiStatus.ON_TRACK


@pytest.mark.parametrize(
    "actual, status",
    [(90, KpiStatus.ON_TRACK), (75, KpiStatus.AT_RISK), (50, KpiStatus.LAGGING), (200, KpiStatus.ACHIEVED)],
)
def test_status_bands_come_from_the_plans_thresholds(actual, status):
    target = PLAN.target("CA-TINH", "drug_cases_detected", "2024")
    moment = at("2024-06-18")  # judged at the June report's cut-off, 14 June
    expected = math.floor(192 * target.expected_fraction(date(2024, 6, 14), PLAN.cutoff_day))
    scaled = actual / 100 * expected if actual < 200 else 200
    kpi = evaluate(ledger_with("CA-TINH", "drug_cases_detected", "2024", scaled), target, PLAN, moment)
    assert kpi.status == status


def test_the_june_action_month_spike_does_not_make_may_look_lagging():
    profiled = PLAN.target("TINH-DOAN", "action_month_activities", "2024")
    linear = profiled.model_copy(update={"pace": "linear", "profile": None})
    ledger = ledger_with("TINH-DOAN", "action_month_activities", "2024", 3)
    may = at("2024-05-20")
    assert evaluate(ledger, profiled, PLAN, may).status == KpiStatus.ON_TRACK
    assert evaluate(ledger, linear, PLAN, may).status == KpiStatus.LAGGING


def test_a_milestone_not_reached_by_its_due_date_is_missed_and_reached_is_achieved():
    target = PLAN.target("TINH-DOAN", "action_month_activities", "2024")
    short = ledger_with("TINH-DOAN", "action_month_activities", "2024", 11)
    # The youth union reports quarterly: the figures covering 30 June are due on 19 September.
    assert evaluate(short, target, PLAN, at("2024-07-01")).status not in (KpiStatus.LAGGING, KpiStatus.MISSED)
    assert evaluate(short, target, PLAN, at("2024-09-20")).status == KpiStatus.MISSED
    done = ledger_with("TINH-DOAN", "action_month_activities", "2024", 12)
    assert evaluate(done, target, PLAN, at("2024-07-01")).status == KpiStatus.ACHIEVED
    assert evaluate(short, target, PLAN, at("2024-07-01")).due == end_of_day(date(2024, 6, 30), PLAN.tz)


def test_a_ratio_target_applies_to_its_denominators_actual():
    addicts = Fact(
        "/agencies/CA-TINH",
        "n1",
        "CA-TINH",
        "reported",
        datetime(2024, 1, 2, tzinfo=VN),
        1,
        {"indicator": "non_voluntary_addicts", "period": "2024", "value": 40},
    )
    ledger = ledger_with("CA-TINH", "compulsory_rehab_dossiers", "2024", 30, [addicts])
    kpi = evaluate(
        ledger, PLAN.target("CA-TINH", "compulsory_rehab_dossiers", "2024"), PLAN, at("2024-12-20")
    )
    assert (kpi.target, kpi.actual, kpi.status) == (40, 30, KpiStatus.MISSED)  # the year is over
    no_denominator = ledger_with("CA-TINH", "compulsory_rehab_dossiers", "2024", 30)
    assert (
        evaluate(
            no_denominator,
            PLAN.target("CA-TINH", "compulsory_rehab_dossiers", "2024"),
            PLAN,
            at("2024-12-20"),
        ).target
        is None
    )


def test_a_ceiling_is_lagging_once_exceeded_and_achieved_if_held_to_the_end():
    indicator = Indicator(
        code="relapses",
        name_vi="r",
        name_en="r",
        unit_vi="người",
        unit_en="persons",
        aggregation="sum",
        max_value=100,
        higher_is_better=False,
    )
    plan = SimpleNamespace(
        indicator=lambda code: indicator,
        cutoff_day=14,
        local_day=PLAN.local_day,
        thresholds=PLAN.thresholds,
        reporting_periods=lambda agency: [],
    )  # no rule: judged as figures stand
    target = Target(agency="X", indicator="relapses", period="2024", kind="absolute", value=10)
    ledger = AgencyLedger("X")
    ledger.actual = lambda *a: 12  # type: ignore[method-assign]
    assert evaluate(ledger, target, plan, at("2024-06-01")).status == KpiStatus.LAGGING
    ledger.actual = lambda *a: 8  # type: ignore[method-assign]
    assert evaluate(ledger, target, plan, at("2024-12-31")).status == KpiStatus.ACHIEVED


def test_a_period_that_has_barely_begun_expects_nothing_yet():
    # 20 June: the July reporting month (15 June - 14 July) began five days ago; a commune that
    # has not yet held July's session is on track, not lagging.
    target = PLAN.target("UBND-KHE-SANH", "propaganda_sessions", "2024-07")
    kpi = evaluate(
        ledger_with("UBND-KHE-SANH", "propaganda_sessions", "2024-07", 0), target, PLAN, at("2024-06-20")
    )
    assert (kpi.expected, kpi.status) == (0, KpiStatus.ON_TRACK)
    # Once July's report is due (cut-off 14 July, deadline 15 July), no session is lagging.
    late = evaluate(
        ledger_with("UBND-KHE-SANH", "propaganda_sessions", "2024-07", 0), target, PLAN, at("2024-07-16")
    )
    assert late.status == KpiStatus.MISSED  # July is over: missed, not catching up


def test_figures_are_judged_at_the_cut_off_of_the_latest_report_due_or_in():
    target = PLAN.target("CA-TINH", "drug_cases_detected", "2024")
    ledger = ledger_with("CA-TINH", "drug_cases_detected", "2024", 50)
    fraction = lambda day: target.expected_fraction(date.fromisoformat(day), PLAN.cutoff_day)  # noqa: E731
    # 16 June: the June report (cut-off 14 June) is not due until 17 June: judged at 14 May.
    assert evaluate(ledger, target, PLAN, at("2024-06-16")).expected == math.floor(
        192 * fraction("2024-05-14")
    )
    # Its report came in early: judged at its own cut-off, 14 June.
    early = Fact(
        "/agencies/CA-TINH",
        "june",
        "CA-TINH",
        "submitted",
        datetime(2024, 6, 15, 9, tzinfo=VN),
        1,
        {"period": "2024-06"},
    )
    submitted = ledger_with("CA-TINH", "drug_cases_detected", "2024", 50, [early])
    assert evaluate(submitted, target, PLAN, at("2024-06-16")).expected == math.floor(
        192 * fraction("2024-06-14")
    )


def test_report_timeliness():
    deadline = datetime(2024, 6, 17, 23, 59, tzinfo=VN)
    assert report_status(None, deadline, deadline - timedelta(hours=1)) == ReportStatus.PENDING
    assert report_status(None, deadline, deadline + timedelta(minutes=1)) == ReportStatus.MISSING
    assert report_status(deadline - timedelta(days=1), deadline, deadline) == ReportStatus.SUBMITTED
    assert report_status(deadline + timedelta(days=1), deadline, deadline) == ReportStatus.LATE


def test_a_missed_deadline_is_an_event_and_a_late_submission_another():
    ledger = AgencyLedger("CA-DONG-HA")
    after = datetime(2024, 6, 16, 9, tzinfo=VN)  # CA-DONG-HA's June deadline is the 15th
    _, reports = evaluate_agency(ledger, PLAN, after, indicators=set())
    june = next(r for r in reports if r.period == "2024-06")
    assert june.status == ReportStatus.MISSING
    events = report_changes({}, reports, after)
    assert [e.data.period for e in events] == [
        "2024-01",
        "2024-02",
        "2024-03",
        "2024-04",
        "2024-05",
        "2024-06",
    ]
    ledger.apply(
        Fact("/agencies/CA-DONG-HA", "s6", "CA-DONG-HA", "submitted", after, 3, {"period": "2024-06"}), PLAN
    )
    _, reports = evaluate_agency(ledger, PLAN, after, indicators=set())
    later = report_changes({r.key: ReportStatus.MISSING for r in reports}, reports, after)
    assert [(e.data.period, e.data.previous_status, e.data.status) for e in later] == [
        ("2024-06", ReportStatus.MISSING, ReportStatus.LATE)
    ]


def test_only_changes_are_emitted_and_their_ids_are_stable():
    ledger = ledger_with("CA-TINH", "drug_cases_detected", "2024", 100)
    kpis, _ = evaluate_agency(ledger, PLAN, at("2024-06-14"))
    first = kpi_changes({}, kpis, at("2024-06-14"))
    assert len(first) == len(kpis) and all(e.data.previous_status is None for e in first)
    assert kpi_changes({k.key: k.status for k in kpis}, kpis, at("2024-06-14")) == []
    assert [e.id for e in kpi_changes({}, kpis, at("2024-06-14"))] == [e.id for e in first]
    assert {e.source for e in first} == {"/services/aggregator"}
