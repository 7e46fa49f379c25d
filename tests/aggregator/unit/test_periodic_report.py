"""The periodic report's model on plain data: which KPIs a period holds, the words it shows, the
late and missing reports, the sample-data note (issue 19)."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.aggregator.domain.periodic_report import build_periodic_report, report_period
from shared.labels import kpi_status_label, report_status_label
from shared.plan.periods import Period
from tests.aggregator.helpers import PLAN
from tests.plans import renamed_plan

VIETNAM = PLAN.tz

AS_OF = datetime(2024, 6, 14, 23, 59, 59, tzinfo=VIETNAM)
H1 = Period.parse("2024-H1")


def kpi(
    agency: str, indicator: str, period: str, actual: float = 5, target: float | None = 10, status="at_risk"
):
    return {
        "agency": agency,
        "indicator": indicator,
        "period": period,
        "actual": actual,
        "target": target,
        "expected": None,
        "forecast": None,
        "status": status,
        "progress": None if not target else actual / target,
        "due": None,
        "evaluated_at": AS_OF.isoformat(),
    }


def report(period: str, status: str, deadline: str, submitted: str | None = None) -> dict:
    return {"period": period, "status": status, "deadline": deadline, "submitted_at": submitted}


def build(kpis=(), reports=None, lang="vi", period=H1):
    return build_periodic_report(PLAN, period, AS_OF, list(kpis), reports or {}, lang)


def test_a_half_year_holds_its_own_its_quarters_and_months_and_the_year_to_date():
    kpis = [
        kpi("UBND-DONG-HA", "propaganda_sessions", p) for p in ("2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4")
    ] + [
        kpi("UBND-KHE-SANH", "propaganda_sessions", "2024-06"),
        kpi("UBND-KHE-SANH", "propaganda_sessions", "2024-07"),
        kpi("MTTQ", "propaganda_sessions", "2024-H1"),
        kpi("CA-TINH", "drug_cases_detected", "2024"),
    ]
    periods = {(r.agency, r.period) for r in build(kpis).rows}
    assert periods == {
        ("UBND-DONG-HA", "2024-Q1"),
        ("UBND-DONG-HA", "2024-Q2"),
        ("UBND-KHE-SANH", "2024-06"),
        ("MTTQ", "2024-H1"),
        ("CA-TINH", "2024"),
    }
    june = {(r.agency, r.period) for r in build(kpis, period=Period.parse("2024-06")).rows}
    assert june == {
        ("UBND-KHE-SANH", "2024-06"),
        ("UBND-DONG-HA", "2024-Q2"),
        ("MTTQ", "2024-H1"),
        ("CA-TINH", "2024"),
    }


def test_rows_follow_the_plans_agencies_then_indicators_shortest_period_first():
    kpis = [
        kpi("UBND-DONG-HA", "propaganda_sessions", "2024"),
        kpi("CA-TINH", "programme_tasks_implemented", "2024"),
        kpi("UBND-DONG-HA", "propaganda_sessions", "2024-Q2"),
        kpi("CA-TINH", "drug_cases_detected", "2024"),
        kpi("UBND-DONG-HA", "propaganda_sessions", "2024-04"),
    ]
    order = [(r.agency, r.indicator, r.period) for r in build(kpis).rows]
    assert order == [
        ("CA-TINH", "drug_cases_detected", "2024"),
        ("CA-TINH", "programme_tasks_implemented", "2024"),
        ("UBND-DONG-HA", "propaganda_sessions", "2024-04"),
        ("UBND-DONG-HA", "propaganda_sessions", "2024-Q2"),
        ("UBND-DONG-HA", "propaganda_sessions", "2024"),
    ]
    groups = build(kpis).groups
    assert [(g.name, len(g.rows)) for g in groups] == [
        (PLAN.agency("CA-TINH").name_vi, 2),
        (PLAN.agency("UBND-DONG-HA").name_vi, 3),
    ]


def test_a_row_names_the_agency_indicator_unit_and_status_in_vietnamese_and_keeps_the_figures():
    [row] = build(
        [kpi("CA-HUONG-HOA", "drug_cases_detected", "2024", actual=7, target=21, status="lagging")]
    ).rows
    assert row.agency_name == "Công an huyện Hướng Hóa"
    assert row.indicator_name == "Số vụ phạm tội về ma túy được phát hiện, bắt giữ"
    assert row.unit == "vụ" and row.period_label == "Năm 2024"
    assert (row.actual, row.target, row.progress) == (7, 21, pytest.approx(1 / 3))
    assert row.status_label == kpi_status_label("lagging") == "Chậm tiến độ"
    assert row.whole


def test_english_on_request():
    r = build([kpi("CA-HUONG-HOA", "drug_cases_detected", "2024", status="lagging")], lang="en")
    [row] = r.rows
    assert (row.agency_name, row.unit, row.status_label, row.period_label) == (
        PLAN.agency("CA-HUONG-HOA").name_en,
        "cases",
        "Lagging",
        "Year 2024",
    )
    assert r.words["motto.2"] == "Independence - Freedom - Happiness"
    assert r.place_and_date == "Quảng Trị, 14 June 2024" and "H1 2024" in r.period_line


def test_the_header_is_the_decrees():
    r = build()
    assert r.issuer == "BAN CHỈ ĐẠO 138 TỈNH QUẢNG TRỊ"  # the plan's steering committee
    assert r.words["motto.1"] == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert r.words["motto.2"] == "Độc lập - Tự do - Hạnh phúc"
    assert r.number_line.startswith("Số:") and r.number_line.endswith("/BC-BCĐ")
    assert r.place_and_date == "Quảng Trị, ngày 14 tháng 6 năm 2024"
    assert r.title == "BÁO CÁO"
    assert "29/KH-BCĐ" in r.subtitle and PLAN.title in r.subtitle
    assert r.period_line == "6 tháng đầu năm 2024 (số liệu tính đến hết ngày 14/6/2024)"
    assert r.words["signature.on_behalf"] == "TM. BAN CHỈ ĐẠO"
    assert r.signer_name == PLAN.steering_committee().leaders[0].name
    assert r.filename("pdf") == "bao-cao-2024-H1-den-2024-06-14.pdf"


def test_the_sample_note_shows_only_where_a_target_shown_is_a_sample():
    sample = kpi("MTTQ", "propaganda_sessions", "2024-H1")  # sample: true in the plan
    from_the_plan = kpi("CA-TINH", "compulsory_rehab_dossiers", "2024")  # the 100 % ratio
    assert PLAN.target("MTTQ", "propaganda_sessions", "2024-H1").sample
    assert not PLAN.target("CA-TINH", "compulsory_rehab_dossiers", "2024").sample
    with_sample = build([sample, from_the_plan])
    assert [r.sample for r in with_sample.rows] == [False, True]  # CA-TINH comes first in the plan
    assert with_sample.sample_note == PLAN.sample_data_note
    assert build([from_the_plan]).sample_note is None


def test_late_and_missing_reports_of_the_period_only():
    reports = {
        "HQ": [
            report("2024-04", "submitted", "2024-04-19T23:59:59.999999+07:00", "2024-04-18T09:00:00+07:00"),
            report("2024-05", "late", "2024-05-19T23:59:59.999999+07:00", "2024-05-22T09:00:00+07:00"),
            report("2024-06", "pending", "2024-06-19T23:59:59.999999+07:00"),
        ],
        "CA-HUONG-HOA": [
            report("2024-03", "missing", "2024-03-19T23:59:59.999999+07:00"),
            report("2024-07", "missing", "2024-07-19T23:59:59.999999+07:00"),  # not in H1
        ],
    }
    overdue = build(reports=reports).overdue
    assert [(r.agency, r.period, r.status) for r in overdue] == [
        ("CA-HUONG-HOA", "2024-03", "missing"),
        ("HQ", "2024-05", "late"),
    ]
    missing, late = overdue
    assert missing.submitted is None and missing.status_label == report_status_label("missing")
    assert (late.deadline.isoformat(), late.submitted.isoformat()) == ("2024-05-19", "2024-05-22")
    assert late.period_label == "Tháng 5/2024" and late.agency_name == PLAN.agency("HQ").name_vi


def test_a_summary_counts_the_statuses():
    kpis = [
        kpi("CA-TINH", "drug_cases_detected", "2024", status="on_track"),
        kpi("CA-DONG-HA", "drug_cases_detected", "2024", status="lagging"),
        kpi("CA-HUONG-HOA", "drug_cases_detected", "2024", status="lagging"),
    ]
    assert build(kpis).summary == "Tổng số 3 chỉ tiêu: đúng tiến độ: 1, chậm tiến độ: 2."
    assert build().summary == "Không có chỉ tiêu nào trong kỳ báo cáo."


def test_a_ratio_without_its_denominator_has_no_target_nor_percent():
    [row] = build(
        [kpi("CA-TINH", "compulsory_rehab_dossiers", "2024", actual=0, target=None, status="no_data")]
    ).rows
    assert (row.target, row.progress) == (None, None)


@pytest.mark.parametrize("text", ["2024-Q7", "2024-13", "24", "2023-H1", "2025"])
def test_only_a_period_of_the_plan_year(text):
    with pytest.raises(ValueError):
        report_period(text, PLAN)
    assert report_period("2024-h1", PLAN) == H1


def test_a_renamed_agency_is_named_as_it_was_on_the_reports_day():
    """tests/plans.py: QD-30-2024 renames the information department from 1 October 2024."""
    plan = renamed_plan().index
    rows = [kpi("STTTT", "propaganda_sessions", "2024")]
    september = datetime(2024, 9, 30, 23, 59, 59, tzinfo=VIETNAM)
    december = datetime(2024, 12, 14, 23, 59, 59, tzinfo=VIETNAM)
    year = Period.parse("2024")
    [before] = build_periodic_report(plan, year, september, rows, {}, "vi").rows
    [after] = build_periodic_report(plan, year, december, rows, {}, "vi").rows
    assert before.agency_name == "Sở Thông tin và Truyền thông"
    assert after.agency_name == "Sở Khoa học, Công nghệ và Truyền thông"
