"""Facts: the agency events the aggregator accepted, in the domain's own compact form.

A fact is what an event says, validated against the plan. Everything the aggregator believes
is a pure function of its set of facts, so any order or repetition of delivery gives the same
projection (the inbox drops repeats before they get here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import msgspec

from shared.events.models import agency_code_of
from shared.events.types import EventType
from shared.plan.periods import Period

REPORTED, CORRECTED, ACTIVITY, ASSESSED, SUBMITTED = "reported", "corrected", "activity", "assessed", "submitted"


class Rejected(ValueError):
    """The event is well-formed but the plan cannot accept it (goes to the dead-letter topic)."""


class Fact(msgspec.Struct, frozen=True, gc=False):
    """Immutable; made in C, ~3x cheaper than a named tuple (a million per rebuild) and, holding no
    cycles, kept out of the cyclic collector's way."""
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


KIND_OF_TYPE = {
    EventType.INDICATOR_REPORTED: REPORTED, EventType.INDICATOR_CORRECTED: CORRECTED,
    EventType.ACTIVITY_RECORDED: ACTIVITY, EventType.COMMUNE_ASSESSED: ASSESSED,
    EventType.REPORT_SUBMITTED: SUBMITTED,
}


def fact_from_event(event: Any, arrival: int, plan: Any) -> Fact:
    """A validated agency event (the shared contract's model) → a fact; raises `Rejected`."""
    return fact_from_data(event.source, event.id, event.type, event.time,
                          event.data.model_dump(mode="json", exclude_none=True), arrival, plan)


def fact_from_data(source: str, id: str, type_: str, time: datetime, data: Any, arrival: int,
                   plan: Any) -> Fact:
    """An event's attributes and JSON data → a fact, checked against the plan (`Rejected`) and for
    the shape the fold relies on (KeyError, TypeError or ValueError: not an agency event)."""
    kind = KIND_OF_TYPE[type_]
    agency = _agency_of(source)
    if agency is None:
        raise ValueError(f"source {source!r} is not /agencies/{{code}}")
    if time.tzinfo is not UTC:
        if time.tzinfo is None:
            raise ValueError("time has no UTC offset")
        # one tzinfo object for every fact, as facts loaded from PostgreSQL have: datetimes with
        # different ones compare ~10x slower (the fold compares them all the time) and cost the
        # COPY a conversion each
        time = time.astimezone(UTC)
    if type(data) is not dict:
        raise TypeError("data is not a JSON object")
    _CHECKS[kind](plan, agency, data)
    return Fact(source, id, agency, kind, time, arrival, data)


def _accepted(plan: Any, key: tuple, check: Any) -> Any:
    """`check(plan, *key)`, remembered in a plan view's memo once it passed: the combinations a
    plan accepts are few (agencies x indicators x periods x units), the events a million."""
    memo = getattr(plan, "accepted", None)
    if memo is None:
        return check(plan, *key)
    try:
        return memo[key]
    except KeyError:
        result = memo[key] = check(plan, *key)
        return result


def _reported(plan: Any, agency: str, data: dict) -> None:
    limit = _accepted(plan, (agency, data["indicator"], data["period"], data.get("unit_code")), _report_limit)
    if _number(data["value"]) > limit:
        raise Rejected(f"value {data['value']:g} exceeds the plan's maximum {limit:g} for {data['indicator']}")


def _report_limit(plan: Any, agency: str, indicator_code: str, period: str, unit: str | None) -> float:
    _check_agency(plan, agency)
    indicator = _lookup(plan.indicator, indicator_code)
    if indicator is None:
        raise Rejected(f"unknown indicator {indicator_code!r}")
    _check_period(period, plan.year)
    _check_unit(plan, unit, agency)
    return indicator.max_value


def _corrected(plan: Any, agency: str, data: dict) -> None:
    _check_agency(plan, agency)
    if type(data["corrects"]) is not str or type(data["reason"]) is not str:
        raise TypeError("corrects and reason must be strings")
    _number(data["value"])


def _activity(plan: Any, agency: str, data: dict) -> None:
    _accepted(plan, (agency, data["activity"], data.get("unit_code")), _activity_known)
    date.fromisoformat(data["date"])
    if type(data.get("participants", 0)) is not int:
        raise TypeError("participants must be an integer")


def _activity_known(plan: Any, agency: str, activity: str, unit: str | None) -> None:
    _check_agency(plan, agency)
    if _lookup(plan.activity_type, activity) is None:
        raise Rejected(f"unknown activity type {activity!r}")
    _check_unit(plan, unit, agency)


def _assessed(plan: Any, agency: str, data: dict) -> None:
    _check_agency(plan, agency)
    _check_unit(plan, data["unit_code"], agency)
    if data["year"] != plan.year:
        raise Rejected(f"assessment year {data['year']} is not the plan year {plan.year}")
    if not _CRITERIA <= data.keys():
        raise KeyError(f"an assessment needs {sorted(_CRITERIA)}")


def _submitted(plan: Any, agency: str, data: dict) -> None:
    _check_agency(plan, agency)
    _check_period(data["period"], plan.year)


_CHECKS = {REPORTED: _reported, CORRECTED: _corrected, ACTIVITY: _activity, ASSESSED: _assessed,
           SUBMITTED: _submitted}


_agency_of = lru_cache(maxsize=1024)(agency_code_of)
_CRITERIA = {"good_movement", "good_management", "good_fight"}


def _number(value: Any) -> float:
    if type(value) is not float and type(value) is not int:
        raise TypeError(f"value {value!r} is not a number")
    return value


@lru_cache(maxsize=4096)
def _check_period(text: str, year: int) -> None:
    if type(text) is not str or str(Period.parse(text)) != text:
        raise ValueError(f"period {text!r} is not in canonical form")
    if Period.parse(text).year != year:
        raise Rejected(f"period {text} is outside the plan year {year}")


def _check_agency(plan: Any, agency: str) -> None:
    """Every kind's check starts here (for reports and activities, once per remembered combination)."""
    if _lookup(plan.agency, agency) is None:
        raise Rejected(f"unknown agency {agency!r}")


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
