"""The alert lifecycle: status events become signals; signals open, update and resolve alerts.

An alert is identified by its fingerprint (kind, agency, indicator, period); the same status
fact delivered twice, or late and out of order, never makes a second alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from services.notifier.domain import periods
from shared.events import KpiStatus, KpiStatusChanged, ReportStatus, ReportStatusChanged


class AlertKind(StrEnum):
    MISSED = "missed"  # the period (or milestone date) is over and the target was not met
    LAGGING = "lagging"
    AT_RISK_REPEATED = "at_risk_repeated"
    FORECAST_BELOW_TARGET = "forecast_below_target"
    REPORT_MISSING = "report_missing"
    REPORT_LATE = "report_late"
    NO_DATA = "no_data"  # a ratio's denominator is not reported: the target cannot be judged


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


SEVERITY = {
    AlertKind.MISSED: Severity.CRITICAL,
    AlertKind.LAGGING: Severity.CRITICAL,
    AlertKind.REPORT_MISSING: Severity.CRITICAL,
    AlertKind.AT_RISK_REPEATED: Severity.WARNING,
    AlertKind.REPORT_LATE: Severity.WARNING,
    AlertKind.NO_DATA: Severity.WARNING,
    AlertKind.FORECAST_BELOW_TARGET: Severity.INFO,
}
# Alerts computed from an agency's figures; pointless while its report is missing.
DERIVED_FROM_FIGURES = {
    AlertKind.MISSED,
    AlertKind.LAGGING,
    AlertKind.AT_RISK_REPEATED,
    AlertKind.FORECAST_BELOW_TARGET,
    AlertKind.NO_DATA,
}
# A late report is a one-off fact, a forecast an early hint and a missing figure the agency's own
# to supply: none climbs to the committee. A missed target climbs like a lagging one.
ESCALATES = {AlertKind.MISSED, AlertKind.LAGGING, AlertKind.REPORT_MISSING, AlertKind.AT_RISK_REPEATED}
# A late report needs saying once; everything else is repeated while open and unacknowledged.
REPEATS = {
    AlertKind.MISSED,
    AlertKind.LAGGING,
    AlertKind.REPORT_MISSING,
    AlertKind.AT_RISK_REPEATED,
    AlertKind.FORECAST_BELOW_TARGET,
    AlertKind.NO_DATA,
}
# A KPI that goes from lagging to missed got worse, not better: the lagging alert is superseded
# (not announced as resolved) and the missed one carries on its escalation.
SUPERSEDES = {AlertKind.MISSED: AlertKind.LAGGING}
_SUPERSEDED_BY_STATUS = {AlertKind.LAGGING: KpiStatus.MISSED.value}

FIRING, RESOLVED = "firing", "resolved"


def fingerprint(kind: AlertKind, agency: str, indicator: str | None, period: str) -> str:
    return f"{kind}|{agency}|{indicator or '-'}|{period}"


@dataclass(frozen=True)
class Signal:
    """What one status event says about one kind of alert: firing or not, with the facts."""

    kind: AlertKind
    agency: str
    indicator: str | None
    period: str
    firing: bool | None  # None: says nothing of firing, only refreshes an open alert's figures
    as_of: datetime
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.kind, self.agency, self.indicator, self.period)


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    agency: str
    indicator: str | None
    period: str
    state: str
    opened_at: datetime  # service time it (re)opened; escalation delays count from here
    as_of: datetime  # time of the newest status fact applied
    facts: dict[str, Any] = field(default_factory=dict)
    resolved_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None  # the authenticated person's name (or the link's recipient)
    id: int | None = None
    acked_by_subject: str | None = None  # their subject (account id, `sub`, or mailto:recipient)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.kind, self.agency, self.indicator, self.period)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def firing(self) -> bool:
        return self.state == FIRING


def kpi_signals(event: KpiStatusChanged, previous_period_status: KpiStatus | None) -> list[Signal]:
    """Every KPI status event says, for each KPI alert kind, whether it fires now."""
    facts = {
        "actual": event.actual,
        "target": event.target,
        "expected": event.expected,
        "forecast": event.forecast,
        "status": event.status.value,
        "deadline": event.deadline.isoformat() if event.deadline else None,
    }
    lagging = event.status is KpiStatus.LAGGING
    at_risk_twice: bool | None = (
        event.status is KpiStatus.AT_RISK and previous_period_status is KpiStatus.AT_RISK
    )
    # a forecast is an early hint: pointless once the KPI is lagging, over, or cannot be judged
    forecast_short = (
        event.status in (KpiStatus.ON_TRACK, KpiStatus.AT_RISK)
        and event.forecast is not None
        and event.target is not None
        and event.forecast < event.target
    )

    def signal(kind: AlertKind, firing: bool | None) -> Signal:
        return Signal(kind, event.agency, event.indicator, event.period, firing, event.as_of, facts)

    if event.previous_status == event.status:
        # a figures update (the aggregator sends one when the figures move, the status not): every
        # open alert of the KPI shows them; "at risk two periods running" is the notifier's own
        # finding (`persistent_risk_signal`), which new figures neither make nor undo
        at_risk_twice = None
    # LAGGING before MISSED: a lagging alert the event supersedes is closed before the missed
    # one opens and takes over its escalation (`superseded`)
    return [
        signal(AlertKind.LAGGING, lagging),
        signal(AlertKind.MISSED, event.status is KpiStatus.MISSED),
        signal(AlertKind.NO_DATA, event.status is KpiStatus.NO_DATA),
        signal(AlertKind.AT_RISK_REPEATED, at_risk_twice),
        signal(AlertKind.FORECAST_BELOW_TARGET, forecast_short),
    ]


def is_superseded(alert: Alert) -> bool:
    """Closed because the KPI got worse (lagging → missed), not because it was put right."""
    return alert.state == RESOLVED and alert.facts.get("status") == _SUPERSEDED_BY_STATUS.get(alert.kind)


def superseded(signal: Signal, changed: list[Alert]) -> Alert | None:
    """The alert of the same KPI this signal's alert takes over from, among those just changed."""
    kind = SUPERSEDES.get(signal.kind)
    return next(
        (
            a
            for a in changed
            if kind is not None
            and a.kind is kind
            and a.agency == signal.agency
            and a.indicator == signal.indicator
            and a.period == signal.period
            and is_superseded(a)
        ),
        None,
    )


def reporting_month(when: datetime, cutoff_day: int, timezone: str) -> int:
    """Index of the monthly reporting window (the 15th to the 14th) holding this moment."""
    local = when.astimezone(ZoneInfo(timezone))
    return local.year * 12 + local.month + (1 if local.day > cutoff_day else 0)


def risk_persisted(at_risk_since: datetime, now: datetime, cutoff_day: int, timezone: str) -> bool:
    """Still at risk in the reporting window after the one it became at risk in: two periods running.

    The aggregator only says when a status changes, so a yearly target that stays at risk sends
    one event; the notifier notices the second period itself.
    """
    return reporting_month(now, cutoff_day, timezone) > reporting_month(at_risk_since, cutoff_day, timezone)


def persistent_risk_signal(
    agency: str, indicator: str, period: str, facts: dict[str, Any], now: datetime
) -> Signal:
    return Signal(AlertKind.AT_RISK_REPEATED, agency, indicator, period, True, now, facts)


def report_signals(event: ReportStatusChanged) -> list[Signal]:
    facts = {
        "deadline": event.deadline.isoformat(),
        "status": event.status.value,
        "submitted_at": event.submitted_at.isoformat() if event.submitted_at else None,
    }

    def signal(kind: AlertKind, firing: bool) -> Signal:
        return Signal(kind, event.agency, None, event.period, firing, event.as_of, facts)

    return [
        signal(AlertKind.REPORT_MISSING, event.status is ReportStatus.MISSING),
        signal(AlertKind.REPORT_LATE, event.status is ReportStatus.LATE),
    ]


def apply(
    alert: Alert | None, signal: Signal, now: datetime, takes_over: Alert | None = None
) -> Alert | None:
    """The alert after the signal; None if there is none and nothing fires. `takes_over`: the
    alert this one supersedes (a lagging KPI now missed); its escalation carries on."""
    opened = min(now, takes_over.opened_at) if takes_over is not None else now
    if signal.firing is None:  # figures only: an open alert shows them, nothing opens or closes
        if alert is None or not alert.firing or signal.as_of < alert.as_of:
            return alert
        return replace(alert, as_of=signal.as_of, facts=signal.facts)
    if alert is None:
        if not signal.firing:
            return None
        return Alert(
            signal.kind,
            signal.agency,
            signal.indicator,
            signal.period,
            FIRING,
            opened_at=opened,
            as_of=signal.as_of,
            facts=signal.facts,
        )
    if signal.as_of < alert.as_of:
        return alert  # an older fact arriving late must not undo a newer one
    if signal.firing and not alert.firing:  # reopened: a fresh alert for escalation and ack
        return replace(
            alert,
            state=FIRING,
            opened_at=opened,
            as_of=signal.as_of,
            facts=signal.facts,
            resolved_at=None,
            acked_at=None,
            acked_by=None,
        )
    if signal.firing:
        return replace(alert, as_of=signal.as_of, facts=signal.facts)
    if alert.firing:
        return replace(alert, state=RESOLVED, resolved_at=now, as_of=signal.as_of, facts=signal.facts)
    return replace(alert, as_of=signal.as_of)


def acknowledge(alert: Alert, by: str, now: datetime, subject: str | None = None) -> Alert:
    """The first acknowledgement counts; it stops escalation, the alert stays on record."""
    if alert.acked_at is not None or not alert.firing:
        return alert
    return replace(alert, acked_at=now, acked_by=by, acked_by_subject=subject)


def inhibited(alert: Alert, firing: list[Alert]) -> bool:
    """A figure-derived alert is held back while the same agency's report for the period is missing."""
    if alert.kind not in DERIVED_FROM_FIGURES:
        return False
    return any(
        other.kind is AlertKind.REPORT_MISSING
        and other.firing
        and other.agency == alert.agency
        and (periods.contains(alert.period, other.period) or periods.contains(other.period, alert.period))
        for other in firing
    )
