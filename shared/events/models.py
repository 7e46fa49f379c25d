"""CloudEvents 1.0 envelopes and the data of every event type.

Agency events (`source` = `/agencies/{agency_code}`) come in through intake; status events
(`source` = `/services/aggregator`) go from the aggregator to the notifier. `(source, id)` is the
idempotency key everywhere.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from shared.events.types import EventType

AGENCY_SOURCE = re.compile(r"/agencies/(?P<code>[A-Z0-9][A-Z0-9-]{0,39})")  # fullmatch: no trailing newline
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
MAX_VALUE = 1e12  # beyond any real count; plan-defined caps are stricter
# Every instant and date in the contract lies in these years (in its own UTC offset), so converting
# one to UTC or adding a day to it can never overflow; the plan's own windows are stricter (intake).
MIN_YEAR, MAX_YEAR = 2000, 2100
# CloudEvents 1.0 integers (extension attribute values) are 32-bit signed.
INT32 = 2**31
# Free text may hold tabs and line breaks; no other C0/C1 control character, DEL nor NUL.
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


AGGREGATOR_SOURCE = "/services/aggregator"  # the one source of status events


def agency_source(agency_code: str) -> str:
    return f"/agencies/{agency_code}"


def agency_code_of(source: str) -> str | None:
    match = AGENCY_SOURCE.fullmatch(source)
    return match["code"] if match else None


def identifier_problem(value: str) -> str | None:
    """Why `value` cannot be an identifier (id, source, subject, ...), or None. Identifiers are
    printable text: no NUL, no C0/C1 control character (CR, LF and TAB included), no lone
    surrogate, no format or separator character other than the space. `str.isprintable` is that
    rule, in C; the aggregator's lean decoder applies the same one."""
    if value.isprintable():
        return None
    bad = next(c for c in value if not c.isprintable())
    return f"must hold printable characters only; found U+{ord(bad):04X} at position {value.index(bad)}"


def _identifier(value: str) -> str:
    if value.isascii() and value.isprintable():  # the usual case, in C
        return value
    problem = identifier_problem(value)
    if problem:
        raise ValueError(problem)
    # one spelling per key: the NFC and NFD forms of a Vietnamese id are one event
    return unicodedata.normalize("NFC", value)


def _event_id(value: str) -> str:
    if value.isascii() and value.isprintable():
        return value
    value = _identifier(value)
    if len(value) > 128:  # NFC can lengthen a few rare characters
        raise ValueError("must be at most 128 characters in NFC")
    return value


def clean_text(value: str) -> str:
    """Free text's rule (events and HTTP parameters): no control character but tab and line breaks;
    PostgreSQL would refuse a NUL with a 500. (pydantic refuses a lone surrogate before this.)"""
    if value.isprintable():  # no control character at all (checked in C): the usual case
        return value
    bad = CONTROL_IN_TEXT.search(value)
    if bad:
        raise ValueError(
            f"must not contain control characters other than tab and line breaks; found "
            f"U+{ord(bad.group()):04X} at position {bad.start()}"
        )
    return value


def _json_string(value: object) -> object:
    """Times and dates come as JSON strings: pydantic's lax mode would read a number as a Unix time."""
    if isinstance(value, (str, date)):  # a datetime is a date; Python callers pass those
        return value
    raise ValueError(f"must be a string (RFC 3339), not {type(value).__name__}")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be RFC 3339 with a UTC offset, e.g. 2024-06-20T08:00:00+07:00")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}; got {value.isoformat()}")
    return value


def _bounded_date(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}; got {value.isoformat()}")
    return value


def _finite_non_negative(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value > MAX_VALUE:
        raise ValueError(f"is implausibly large (over {MAX_VALUE:g})")
    return value


# Numbers are strict: a boolean or a string is not a number (an integer is a fine float).
AwareDatetime = Annotated[datetime, BeforeValidator(_json_string), AfterValidator(_aware)]
BoundedDate = Annotated[date, BeforeValidator(_json_string), AfterValidator(_bounded_date)]
Value = Annotated[float, Field(strict=True), AfterValidator(_finite_non_negative)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Code = Annotated[str, Field(pattern=CODE)]  # ASCII by its pattern (pydantic's regex: `$` is the very end)
Period = Annotated[
    str,
    Field(
        pattern=r"^\d{4}(-H[12]|-Q[1-4]|-(0[1-9]|1[0-2]))?$",
        examples=["2024", "2024-H1", "2024-Q2", "2024-06"],
    ),
]
EventId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_event_id)]
Text = Annotated[str, Field(max_length=2000), AfterValidator(clean_text)]


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

    corrects: EventId
    value: Value
    reason: Annotated[Text, Field(min_length=1)]


class ActivityRecorded(_Data):
    """One activity (e.g. a propaganda session), counted into indicators as the plan says."""

    activity: Code
    date: BoundedDate
    participants: Annotated[int, Field(ge=0, le=10_000_000, strict=True)] = 0
    target_groups: list[Annotated[Text, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    channel: Annotated[Text, Field(max_length=100)] | None = None
    unit_code: Code | None = None
    note: Text | None = None


class ReportSubmitted(_Data):
    """The agency declares its periodic report for a period complete."""

    period: Period
    note: Text | None = None


class CommuneAssessed(_Data):
    """A commune's yearly "địa bàn 03 tốt" assessment: three criteria groups, each pass/fail."""

    unit_code: Code
    year: Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR, strict=True)]
    good_movement: bool = Field(description="Phong trào tốt", strict=True)
    good_management: bool = Field(description="Quản lý tốt", strict=True)
    good_fight: bool = Field(description="Đấu tranh tốt", strict=True)
    note: Text | None = None

    @property
    def passed(self) -> bool:
        return self.good_movement and self.good_management and self.good_fight


class KpiStatus(StrEnum):
    ACHIEVED = "achieved"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    LAGGING = "lagging"  # behind, but the period is not over: it can still catch up
    MISSED = "missed"  # the period (or the milestone's date) is over and the target was not met
    NO_DATA = "no_data"  # figures are due but the target cannot be set (a ratio's denominator)


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
    actual: Finite
    target: Finite | None
    expected: Finite | None
    forecast: Finite | None
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
    id: EventId
    source: Annotated[str, Field(min_length=1, max_length=200)]
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: Annotated[str, Field(max_length=200), AfterValidator(_identifier)] | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return _identifier(value)

    @model_validator(mode="after")
    def _extensions_are_cloudevents_scalars(self) -> _Envelope:
        # CloudEvents 1.0: extension names are [a-z0-9]{1,20} and values scalars, so they
        # survive Kafka's binary mode as ce_* headers unchanged.
        for name, value in (self.model_extra or {}).items():
            if not EXTENSION_NAME.fullmatch(name):
                raise ValueError(f"extension attribute {name!r}: names are 1-20 lowercase letters or digits")
            if not isinstance(value, (str, int, bool)):
                raise ValueError(
                    f"extension attribute {name!r} must be a string, integer or boolean, "
                    f"not {type(value).__name__}"
                )
            if isinstance(value, str) and (problem := identifier_problem(value)):
                raise ValueError(f"extension attribute {name!r} {problem}")
            if type(value) is int and not -INT32 <= value < INT32:
                raise ValueError(f"extension attribute {name!r} must be a 32-bit integer (CloudEvents 1.0)")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key."""
        return (self.source, self.id)


class _AgencyEnvelope(_Envelope):
    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:  # stricter than, and instead of, the envelope's rule
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
    IndicatorReportedEvent
    | IndicatorCorrectedEvent
    | ActivityRecordedEvent
    | ReportSubmittedEvent
    | CommuneAssessedEvent,
    Field(discriminator="type"),
]
StatusEvent = Annotated[KpiStatusChangedEvent | ReportStatusChangedEvent, Field(discriminator="type")]
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
