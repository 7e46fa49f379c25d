"""Status-change detection: what the notifier is told.

A KPI change is emitted whenever its status differs from the last one recorded (the first
evaluation included: the notifier needs a starting point), and whenever the figures of a KPI
not yet achieved change with its status unchanged (`previous_status` = `status`): the notifier's
open alerts then show the figures as they stand, not those of the first change. At most one per
KPI per batch (the batch's evaluation), and none for an achieved KPI (no alert is open on it).
A report change is emitted when the
report leaves `pending`: submitted, late, or missing once the deadline has passed.
Event ids are derived from the change itself, so a replay of the same change has the same id
and the notifier's inbox drops it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from services.aggregator.domain.kpi import Kpi, Report
from shared.events.models import (
    KpiStatus,
    KpiStatusChanged,
    KpiStatusChangedEvent,
    ReportStatus,
    ReportStatusChanged,
    ReportStatusChangedEvent,
)
from shared.events.types import EventType

E = TypeVar("E", KpiStatusChangedEvent, ReportStatusChangedEvent)

SOURCE = "/services/aggregator"
_NAMESPACE = uuid.UUID("6f1c3a52-8a0e-4b47-9d8b-3c0f3f7b2a11")


def _figures(kpi: Kpi) -> tuple:
    return (kpi.actual, kpi.target, kpi.expected, kpi.forecast)


def kpi_changes(
    previous: Mapping[tuple, Kpi | KpiStatus | Any], kpis: Iterable[Kpi], as_of: datetime
) -> list[KpiStatusChangedEvent]:
    """`previous`: per key the last KPI (or only its status, which then says nothing of figures)."""
    events = []
    for kpi in kpis:
        last = previous.get(kpi.key)
        before = getattr(last, "status", last)
        if before == kpi.status and (
            kpi.status == KpiStatus.ACHIEVED or not isinstance(last, Kpi) or _figures(last) == _figures(kpi)
        ):
            continue
        data = KpiStatusChanged(
            agency=kpi.agency,
            indicator=kpi.indicator,
            period=kpi.period,
            status=kpi.status,
            previous_status=before,
            actual=kpi.actual,
            target=kpi.target,
            expected=kpi.expected,
            forecast=kpi.forecast,
            as_of=as_of,
            deadline=kpi.due,
        )
        name = f"kpi|{kpi.agency}|{kpi.indicator}|{kpi.period}|{before}|{kpi.status}|{as_of.isoformat()}"
        if before == kpi.status:  # a figures update: two at one moment (a frozen clock) differ by them
            name += f"|{kpi.actual}|{kpi.target}|{kpi.expected}|{kpi.forecast}"
        subject = f"{kpi.agency}/{kpi.indicator}/{kpi.period}"
        events.append(_event(KpiStatusChangedEvent, EventType.KPI_STATUS_CHANGED, name, subject, as_of, data))
    return events


def report_changes(
    previous: Mapping[tuple, ReportStatus | None], reports: Iterable[Report], as_of: datetime
) -> list[ReportStatusChangedEvent]:
    events = []
    for report in reports:
        before = previous.get(report.key)
        if report.status == ReportStatus.PENDING or before == report.status:
            continue
        data = ReportStatusChanged(
            agency=report.agency,
            period=report.period,
            status=report.status,
            previous_status=before,
            deadline=report.deadline,
            submitted_at=report.submitted_at,
            as_of=as_of,
        )
        name = f"report|{report.agency}|{report.period}|{before}|{report.status}|{as_of.isoformat()}"
        subject = f"{report.agency}/{report.period}"
        events.append(
            _event(ReportStatusChangedEvent, EventType.REPORT_STATUS_CHANGED, name, subject, as_of, data)
        )
    return events


def _event(model: type[E], type_: EventType, name: str, subject: str, as_of: datetime, data: object) -> E:
    """One of the aggregator's status events; its id is a UUIDv5 of `name`, so a replay makes the same."""
    return model(
        specversion="1.0",
        id=str(uuid.uuid5(_NAMESPACE, name)),
        source=SOURCE,
        time=as_of,
        type=type_,
        subject=subject,
        data=data,
    )
