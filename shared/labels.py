"""Labels shown to people (statuses, periods), Vietnamese first, English available: the demo, the
APIs and the emails all word them through these functions."""

from __future__ import annotations

from typing import Literal

from shared.plan.periods import Period

Lang = Literal["vi", "en"]

KPI_STATUS = {
    "achieved": {"vi": "Đã đạt", "en": "Achieved"},
    "on_track": {"vi": "Đúng tiến độ", "en": "On track"},
    "at_risk": {"vi": "Có nguy cơ chậm", "en": "At risk"},
    "lagging": {"vi": "Chậm tiến độ", "en": "Lagging"},
    "missed": {"vi": "Không hoàn thành chỉ tiêu", "en": "Target missed"},
    "no_data": {"vi": "Chưa có số liệu", "en": "No data"},
}
REPORT_STATUS = {
    "pending": {"vi": "Chưa đến hạn", "en": "Not yet due"},
    "submitted": {"vi": "Đã nộp đúng hạn", "en": "Submitted on time"},
    "late": {"vi": "Nộp muộn", "en": "Submitted late"},
    "missing": {"vi": "Chưa nộp (quá hạn)", "en": "Missing (overdue)"},
}


def kpi_status_label(status: str, lang: Lang = "vi") -> str:
    return KPI_STATUS.get(status, {}).get(lang, status)


def report_status_label(status: str, lang: Lang = "vi") -> str:
    return REPORT_STATUS.get(status, {}).get(lang, status)


def period_label(period: str, lang: Lang = "vi") -> str:
    """A plan period as leaders read it, in the administrative style: "Quý II/2024", "Tháng 6/2024",
    "6 tháng đầu năm 2024", "Năm 2024" ("Q2 2024", "June 2024", "H1 2024", "Year 2024")."""
    return Period.parse(period).label("en" if lang == "en" else "vi")
