"""One valid example per event type, for the OpenAPI document, docs/intake.md and the tests
(which send each of them through the real service, so the documentation cannot lie)."""

from __future__ import annotations

from typing import Any

from shared.events.types import EventType

TIME = "2024-06-20T08:00:00+07:00"


def examples(agency: str = "CA-TINH") -> dict[str, dict[str, Any]]:
    source = f"/agencies/{agency}"
    base = {"specversion": "1.0", "source": source, "time": TIME, "datacontenttype": "application/json"}
    return {
        "indicator.reported": {
            **base,
            "id": "ca-tinh-2024-06-cases",
            "type": EventType.INDICATOR_REPORTED.value,
            "data": {
                "indicator": "drug_cases_detected",
                "period": "2024-06",
                "value": 17,
                "unit_code": "QT",
                "note": "Số vụ phát hiện, bắt giữ tháng 6",
            },
        },
        "indicator.corrected": {
            **base,
            "id": "ca-tinh-2024-06-cases-fix1",
            "type": EventType.INDICATOR_CORRECTED.value,
            "data": {
                "corrects": "ca-tinh-2024-06-cases",
                "value": 18,
                "reason": "một vụ được nhập muộn (one case entered late)",
            },
        },
        "activity.recorded": {
            **base,
            "id": "ca-tinh-2024-06-18-session-khe-sanh",
            "type": EventType.ACTIVITY_RECORDED.value,
            "data": {
                "activity": "propaganda_session",
                "date": "2024-06-18",
                "participants": 120,
                "target_groups": ["students"],
                "channel": "in person",
                "unit_code": "HH-KHE-SANH",
            },
        },
        "report.submitted": {
            **base,
            "id": "ca-tinh-report-2024-06",
            "type": EventType.REPORT_SUBMITTED.value,
            "data": {"period": "2024-06", "note": "Báo cáo tháng 6/2024"},
        },
        "commune.assessed": {
            **base,
            "id": "ca-tinh-2024-assess-lao-bao",
            "type": EventType.COMMUNE_ASSESSED.value,
            "data": {
                "unit_code": "HH-LAO-BAO",
                "year": 2024,
                "good_movement": True,
                "good_management": True,
                "good_fight": False,
            },
        },
    }
