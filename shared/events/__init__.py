"""The event contract, v1. Pydantic models here are the single source of truth."""

from shared.events.models import (
    AGENCY_EVENT_TYPES,
    ActivityRecorded,
    AgencyEvent,
    CommuneAssessed,
    IndicatorCorrected,
    IndicatorReported,
    KpiStatus,
    KpiStatusChanged,
    ReportStatus,
    ReportStatusChanged,
    ReportSubmitted,
    StatusEvent,
    agency_code_of,
    agency_source,
)
from shared.events.types import EventType

__all__ = [
    "AGENCY_EVENT_TYPES",
    "ActivityRecorded",
    "AgencyEvent",
    "CommuneAssessed",
    "EventType",
    "IndicatorCorrected",
    "IndicatorReported",
    "KpiStatus",
    "KpiStatusChanged",
    "ReportStatus",
    "ReportStatusChanged",
    "ReportSubmitted",
    "StatusEvent",
    "agency_code_of",
    "agency_source",
]
