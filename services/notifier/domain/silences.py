"""Silences: an operator mutes alerts by agency/indicator/period for a time window, with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.notifier.domain import periods
from services.notifier.domain.alerts import Alert
from shared.plan.periods import Period


class InvalidSilence(ValueError):
    pass


@dataclass(frozen=True)
class Silence:
    agency: str | None
    indicator: str | None
    period: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str  # the authenticated person's name
    id: int | None = None
    created_by_subject: str | None = None  # their subject (None on silences set before issue 17)

    def __post_init__(self) -> None:
        if not (self.agency or self.indicator or self.period):
            raise InvalidSilence("a silence needs at least an agency, an indicator or a period")
        # A lifted silence that had not begun ends as it starts (never active); a new one must
        # last (service_layer.operations.create_silence).
        if self.ends_at < self.starts_at:
            raise InvalidSilence("a silence cannot end before it starts")
        if not self.reason.strip():
            raise InvalidSilence("a silence needs a reason")
        if self.period:
            Period.parse(self.period)  # raises on a malformed period

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        return (
            (self.agency is None or self.agency == alert.agency)
            and (self.indicator is None or self.indicator == alert.indicator)
            and (self.period is None or periods.contains(self.period, alert.period))
        )


def silenced_by(alert: Alert, silences: list[Silence], now: datetime) -> list[Silence]:
    return [s for s in silences if s.active(now) and s.matches(alert)]
