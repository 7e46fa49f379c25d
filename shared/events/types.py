"""Event type names. Every type lives under one prefix and carries its version."""

from enum import StrEnum

PREFIX = "vn.gov.pcmt."


class EventType(StrEnum):
    INDICATOR_REPORTED = PREFIX + "indicator.reported.v1"
    INDICATOR_CORRECTED = PREFIX + "indicator.corrected.v1"
    ACTIVITY_RECORDED = PREFIX + "activity.recorded.v1"
    REPORT_SUBMITTED = PREFIX + "report.submitted.v1"
    COMMUNE_ASSESSED = PREFIX + "commune.assessed.v1"
    # Emitted by the aggregator for the notifier.
    KPI_STATUS_CHANGED = PREFIX + "kpi.status_changed.v1"
    REPORT_STATUS_CHANGED = PREFIX + "report.status_changed.v1"
