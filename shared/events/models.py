"""CloudEvents 1.0 envelopes and the data of every event type.

Agency events (`source` = `/agencies/{agency_code}`) come in through intake; status events
(`source` = `/services/aggregator`) go from the aggregator to the notifier. `(source, id)` is the
idempotency key everywhere.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from shared.events.types import EventType

AGENCY_SOURCE = re.compile(r"/agencies/(?P<code>[A-Z0-9][A-Z0-9-]{0,39})")  # fullmatch: no trailing newline
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
MAX_VALUE = 1e12  # beyond any real count; plan-defined caps are stricter


def agency_source(agency_code: str) -> str:
    return f"/agencies/{agency_code}"


def agency_code_of(source: str) -> str | None:
    match = AGENCY_SOURCE.fullmatch(source)
    return match["code"] if match else None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be RFC 3339 with a UTC offset, e.g. 2024-06-20T08:00:00+07:00")
    return value


def _finite_non_negative(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value > MAX_VALUE:
        raise ValueError(f"is implausibly large (over {MAX_VALUE:g})")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Value = Annotated[float, AfterValidator(_finite_non_negative)]
Code = Annotated[str, Field(pattern=CODE)]
Period = Annotated[str, Field(pattern=r"^\d{4}(-H[12]|-Q[1-4]|-(0[1-9]|1[0-2]))?$",
                              examples=["2024", "2024-H1", "2024-Q2", "2024-06"])]
Text = Annotated[str, Field(max_length=2000)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorReported(_Data):
    """The cumulative value of one indicator for one reporting period."""

    indicator: Code
    period: Period
    value: Value
    unit_code: Code | None = Field(None, description="a subordinate unit (e.g. a commune)")
    note: Text | None = None


class IndicatorCorrected(_Data):
    """Replaces the value of an event the same agency reported earlier."""

    corrects: Annotated[str, Field(min_length=1, max_length=128)]
    value: Value
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ActivityRecorded(_Data):
    """One activity (e.g. a propaganda session), counted into indicators as the plan says."""

    activity: Code
    date: date
    participants: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    target_groups: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    channel: Annotated[str, Field(max_length=100)] | None = None
    unit_code: Code | None = None
    note: Text | None = None


class ReportSubmitted(_Data):
    """The agency declares its periodic report for a period complete."""

    period: Period
    note: Text | None = None


class CommuneAssessed(_Data):
    """A commune's yearly "địa bàn 03 tốt" assessment: three criteria groups, each pass/fail."""

    unit_code: Code
    year: Annotated[int, Field(ge=2000, le=2100)]
    good_movement: bool = Field(description="Phong trào tốt")
    good_management: bool = Field(description="Quản lý tốt")
    good_fight: bool = Field(description="Đấu tranh tốt")
    note: Text | None = None

    @property
    def passed(self) -> bool:
        return self.good_movement and self.good_management and self.good_fight


class KpiStatus(StrEnum):
    ACHIEVED = "achieved"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    LAGGING = "lagging"


class ReportStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    LATE = "late"
    MISSING = "missing"


class KpiStatusChanged(_Data):
    agency: Code
    indicator: Code
    period: Period
    status: KpiStatus
    previous_status: KpiStatus | None
    actual: float
    target: float | None
    expected: float | None
    forecast: float | None
    as_of: AwareDatetime
    deadline: AwareDatetime | None = None


class ReportStatusChanged(_Data):
    agency: Code
    period: Period
    status: ReportStatus
    previous_status: ReportStatus | None
    deadline: AwareDatetime
    submitted_at: AwareDatetime | None = None
    as_of: AwareDatetime


class _Envelope(BaseModel):
    """CloudEvents 1.0 context attributes; unknown attributes are extensions and kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1, max_length=128)]
    source: Annotated[str, Field(min_length=1, max_length=200)]
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _extensions_are_cloudevents_scalars(self) -> "_Envelope":
        # CloudEvents 1.0: extension names are [a-z0-9]{1,20} and values scalars, so they
        # survive Kafka's binary mode as ce_* headers unchanged.
        for name, value in (self.model_extra or {}).items():
            if not EXTENSION_NAME.match(name):
                raise ValueError(f"extension attribute {name!r}: names are 1-20 lowercase letters or digits")
            if not isinstance(value, (str, int, bool)) or isinstance(value, float):
                raise ValueError(f"extension attribute {name!r} must be a string, integer or boolean, "
                                 f"not {type(value).__name__}")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key."""
        return (self.source, self.id)


class _AgencyEnvelope(_Envelope):
    @field_validator("source")
    @classmethod
    def _agency_source(cls, value: str) -> str:
        if not AGENCY_SOURCE.fullmatch(value):
            raise ValueError("must be /agencies/{AGENCY_CODE}, e.g. /agencies/CA-TINH")
        return value

    @property
    def agency(self) -> str:
        return agency_code_of(self.source) or ""


class IndicatorReportedEvent(_AgencyEnvelope):
    type: Literal[EventType.INDICATOR_REPORTED]
    data: IndicatorReported


class IndicatorCorrectedEvent(_AgencyEnvelope):
    type: Literal[EventType.INDICATOR_CORRECTED]
    data: IndicatorCorrected


class ActivityRecordedEvent(_AgencyEnvelope):
    type: Literal[EventType.ACTIVITY_RECORDED]
    data: ActivityRecorded


class ReportSubmittedEvent(_AgencyEnvelope):
    type: Literal[EventType.REPORT_SUBMITTED]
    data: ReportSubmitted


class CommuneAssessedEvent(_AgencyEnvelope):
    type: Literal[EventType.COMMUNE_ASSESSED]
    data: CommuneAssessed


class KpiStatusChangedEvent(_Envelope):
    type: Literal[EventType.KPI_STATUS_CHANGED]
    data: KpiStatusChanged


class ReportStatusChangedEvent(_Envelope):
    type: Literal[EventType.REPORT_STATUS_CHANGED]
    data: ReportStatusChanged


AgencyEvent = Annotated[
    Union[IndicatorReportedEvent, IndicatorCorrectedEvent, ActivityRecordedEvent,
          ReportSubmittedEvent, CommuneAssessedEvent],
    Field(discriminator="type"),
]
StatusEvent = Annotated[
    Union[KpiStatusChangedEvent, ReportStatusChangedEvent], Field(discriminator="type")
]
AGENCY_EVENT_TYPES = {
    EventType.INDICATOR_REPORTED: IndicatorReportedEvent,
    EventType.INDICATOR_CORRECTED: IndicatorCorrectedEvent,
    EventType.ACTIVITY_RECORDED: ActivityRecordedEvent,
    EventType.REPORT_SUBMITTED: ReportSubmittedEvent,
    EventType.COMMUNE_ASSESSED: CommuneAssessedEvent,
}
STATUS_EVENT_TYPES = {
    EventType.KPI_STATUS_CHANGED: KpiStatusChangedEvent,
    EventType.REPORT_STATUS_CHANGED: ReportStatusChangedEvent,
}
agency_event_adapter: TypeAdapter[AgencyEvent] = TypeAdapter(AgencyEvent)
status_event_adapter: TypeAdapter[StatusEvent] = TypeAdapter(StatusEvent)
