"""Status labels shown to people, Vietnamese first, English available."""

from __future__ import annotations

from typing import Literal

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
