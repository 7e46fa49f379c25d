"""Facts: the agency events the aggregator accepted, in the domain's own compact form.

A fact is what an event says, validated against the plan. Everything the aggregator believes
is a pure function of its set of facts, so any order or repetition of delivery gives the same
projection (the inbox drops repeats before they get here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime
from typing import Any

from shared.events.models import (
    ActivityRecordedEvent, CommuneAssessedEvent, IndicatorCorrectedEvent, IndicatorReportedEvent,
    ReportSubmittedEvent,
)
from shared.plan.periods import Period

REPORTED, CORRECTED, ACTIVITY, ASSESSED, SUBMITTED = "reported", "corrected", "activity", "assessed", "submitted"


class Rejected(ValueError):
    """The event is well-formed but the plan cannot accept it (goes to the dead-letter topic)."""


@dataclass(frozen=True, slots=True)
class Fact:
    source: str
    id: str
    agency: str
    kind: str
    time: datetime
    arrival: int  # ties on `time` go to the later arrival (the offset on the agency's partition)
    data: dict[str, Any]  # the event's data, JSON-shaped (stored as is; read back the same)

    @property
    def order(self) -> tuple[datetime, int, str]:
        # the id makes the order total, so equal (time, arrival) can never depend on delivery
        return (self.time, self.arrival, self.id)

    @property
    def day(self) -> date:
        return date.fromisoformat(self.data["date"])


_KINDS = {
    IndicatorReportedEvent: REPORTED, IndicatorCorrectedEvent: CORRECTED,
    ActivityRecordedEvent: ACTIVITY, CommuneAssessedEvent: ASSESSED, ReportSubmittedEvent: SUBMITTED,
}


def fact_from_event(event: Any, arrival: int, plan: Any) -> Fact:
    """Validate an agency event against the plan; raises `Rejected` with the reason."""
    kind = _KINDS[type(event)]
    agency = event.agency
    if _lookup(plan.agency, agency) is None:
        raise Rejected(f"unknown agency {agency!r}")
    data = event.data.model_dump(mode="json", exclude_none=True)
    if kind == REPORTED:
        indicator = _lookup(plan.indicator, data["indicator"])
        if indicator is None:
            raise Rejected(f"unknown indicator {data['indicator']!r}")
        if data["value"] > indicator.max_value:
            raise Rejected(f"value {data['value']:g} exceeds the plan's maximum {indicator.max_value:g} "
                           f"for {indicator.code}")
        _check_period(data["period"], plan.year)
        _check_unit(plan, data.get("unit_code"), agency)
    elif kind == ACTIVITY:
        if _lookup(plan.activity_type, data["activity"]) is None:
            raise Rejected(f"unknown activity type {data['activity']!r}")
        _check_unit(plan, data.get("unit_code"), agency)
    elif kind == ASSESSED:
        _check_unit(plan, data["unit_code"], agency)
        if data["year"] != plan.year:
            raise Rejected(f"assessment year {data['year']} is not the plan year {plan.year}")
    elif kind == SUBMITTED:
        _check_period(data["period"], plan.year)
    return Fact(event.source, event.id, agency, kind, event.time, arrival, data)


@lru_cache(maxsize=4096)
def _check_period(text: str, year: int) -> None:
    if Period.parse(text).year != year:
        raise Rejected(f"period {text} is outside the plan year {year}")


def _check_unit(plan: Any, code: str | None, agency: str) -> None:
    if code is None:
        return
    if _lookup(plan.unit, code) is None:
        raise Rejected(f"unknown unit {code!r}")
    if not plan.is_own_unit(agency, code):
        raise Rejected(f"unit {code} is not {agency}'s unit nor below it")


def _lookup(getter: Any, code: str) -> Any:
    try:
        return getter(code)
    except (KeyError, LookupError, ValueError):
        return None
