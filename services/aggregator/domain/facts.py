"""Facts: the agency events the aggregator accepted, in the domain's own compact form.

A fact is what an event says, validated against the plan. Everything the aggregator believes
is a pure function of its set of facts, so any order or repetition of delivery gives the same
projection (the inbox drops repeats before they get here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from unicodedata import is_normalized

import msgspec

from shared.events.models import CONTROL_IN_TEXT, MAX_VALUE, MAX_YEAR, MIN_YEAR, agency_code_of
from shared.events.types import EventType
from shared.plan.book import Plans
from shared.plan.index import PlanIndex, Rejected

REPORTED, CORRECTED, ACTIVITY, ASSESSED, SUBMITTED = (
    "reported",
    "corrected",
    "activity",
    "assessed",
    "submitted",
)


__all__ = [
    "Fact",
    "Rejected",
    "fact_from_data",
    "fact_from_event",
]  # Rejected: the plan's, `shared.plan.index`


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


KIND_OF_TYPE: dict[str, str] = {
    EventType.INDICATOR_REPORTED: REPORTED,
    EventType.INDICATOR_CORRECTED: CORRECTED,
    EventType.ACTIVITY_RECORDED: ACTIVITY,
    EventType.COMMUNE_ASSESSED: ASSESSED,
    EventType.REPORT_SUBMITTED: SUBMITTED,
}


def fact_from_event(event: Any, arrival: int, plan: Plans) -> Fact:
    """A validated agency event (the shared contract's model) → a fact; raises `Rejected`."""
    return fact_from_data(
        event.source,
        event.id,
        event.type,
        event.time,
        event.data.model_dump(mode="json", exclude_none=True),
        arrival,
        plan,
    )


def fact_from_data(
    source: str, id: str, type_: str, time: datetime, data: Any, arrival: int, plan: Plans
) -> Fact:
    """An event's attributes and JSON data → a fact, checked against the plan of its year by the
    rules intake applies (`shared.plan.index`, which raises `Rejected`; a `Plan` is read through its
    index; a `PlanBook` routes the event to the plan of its period, day or year) and for
    the shape the fold relies on and the contract's bounds (KeyError, TypeError or ValueError: not
    an agency event as `shared.events` defines it; a caller then asks the shared codec, which is
    stricter in nothing and words the error)."""
    kind = KIND_OF_TYPE[type_]
    agency = _agency_of(source)
    if agency is None:
        raise ValueError(f"source {source!r} is not /agencies/{{code}}")
    if not 0 < len(id) <= 128 or not id.isprintable() or not (id.isascii() or is_normalized("NFC", id)):
        _check_id(id)  # words it
    if not MIN_YEAR <= time.year <= MAX_YEAR:  # before converting: year 1 at +01:00 overflows
        raise ValueError(f"time {time.isoformat()} lies outside the years {MIN_YEAR}-{MAX_YEAR}")
    if time.tzinfo is not UTC:
        if time.tzinfo is None:
            raise ValueError("time has no UTC offset")
        # one tzinfo object for every fact, as facts loaded from PostgreSQL have: datetimes with
        # different ones compare ~10x slower (the fold compares them all the time) and cost the
        # COPY a conversion each
        time = time.astimezone(UTC)
    if type(data) is not dict:
        raise TypeError("data is not a JSON object")
    if not _FIELDS[kind].issuperset(data):
        raise KeyError(f"fields {sorted(data.keys() - _FIELDS[kind])} are not fields of a {kind} event")
    _CHECKS[kind](plan if type(plan) is PlanIndex else plan.index, agency, data)
    return Fact(source, id, agency, kind, time, arrival, data)


def _check_id(id: str) -> None:
    """The contract's rule for ids (`shared.events.models.identifier_problem`), and its one spelling:
    an id not in NFC was not normalised by the contract (so not written by intake)."""
    if not 0 < len(id) <= 128 or not id.isprintable() or not (id.isascii() or is_normalized("NFC", id)):
        raise ValueError(f"id {id!r} is not 1-128 printable characters in NFC")


def _text(value: Any, limit: int = 2000) -> None:
    """Free text as the contract takes it (callers skip a null): a string without control characters
    (a printable one has none: checked in C first)."""
    if (
        type(value) is not str
        or len(value) > limit
        or (not value.isprintable() and CONTROL_IN_TEXT.search(value))
    ):
        raise ValueError(
            f"{value!r:.60} is not text of at most {limit} characters without control characters"
        )


def _reported(plans: Plans, agency: str, data: dict) -> None:
    if type(data["period"]) is not str:
        raise TypeError("period must be text")
    plan = plans.index_for(period=data["period"])
    limit = plan.report_limit(agency, data["indicator"], data["period"], data.get("unit_code"))  # remembered
    if _number(data["value"]) > limit:
        raise plan.over_cap(data["value"], data["indicator"])
    if (note := data.get("note")) is not None:
        _text(note)


def _corrected(plans: Plans, agency: str, data: dict) -> None:
    if agency not in plans.agency_codes:  # of any plan loaded: it corrects an event of its plan's year
        plans.latest.check_agency(agency)
    if type(data["corrects"]) is not str or type(data["reason"]) is not str or not data["reason"]:
        raise TypeError("corrects and reason must be strings")
    _check_id(data["corrects"])
    _text(data["reason"])
    _number(data["value"])


def _activity(plans: Plans, agency: str, data: dict) -> None:
    day = data["date"]
    if (
        type(day) is not str
        or len(day) != 10
        or day[4] != "-"
        or day[7] != "-"
        or not MIN_YEAR <= date.fromisoformat(day).year <= MAX_YEAR
    ):  # YYYY-MM-DD, not 2024-W25-4
        raise ValueError(f"date {day!r} is not YYYY-MM-DD in the years {MIN_YEAR}-{MAX_YEAR}")
    plan = plans.index_for(day=day)
    plan.check_activity(agency, data["activity"], data.get("unit_code"))  # remembered
    plan.check_activity_day(day, data.get("unit_code"), agency)
    participants = data.get("participants", 0)
    if type(participants) is not int or not 0 <= participants <= 10_000_000:
        raise TypeError("participants must be an integer from 0 to 10,000,000")
    groups = data.get("target_groups", [])
    if type(groups) is not list or len(groups) > 20:
        raise TypeError("target_groups must be a list of at most 20 texts")
    for group in groups:
        if type(group) is not str or len(group) > 100 or not group.isprintable():
            _text(group, 100)  # a tab or a line break is fine; the rest is refused here
    if (channel := data.get("channel")) is not None:
        _text(channel, 100)
    if (note := data.get("note")) is not None:
        _text(note)


def _assessed(plans: Plans, agency: str, data: dict) -> None:
    if type(data["year"]) is not int or type(data["unit_code"]) is not str:
        raise TypeError("year must be an integer, unit_code a code")
    plans.index_for(year=data["year"]).check_assessment(agency, data["unit_code"], data["year"])
    if not data.keys() >= _CRITERIA:
        raise KeyError(f"an assessment needs {sorted(_CRITERIA)}")
    if any(type(data[c]) is not bool for c in _CRITERIA):
        raise TypeError(f"{sorted(_CRITERIA)} must be true or false")
    if (note := data.get("note")) is not None:
        _text(note)


def _submitted(plans: Plans, agency: str, data: dict) -> None:
    if type(data["period"]) is not str:
        raise TypeError("period must be text")
    plans.index_for(period=data["period"]).check_submission(agency, data["period"])
    if (note := data.get("note")) is not None:
        _text(note)


_CHECKS = {
    REPORTED: _reported,
    CORRECTED: _corrected,
    ACTIVITY: _activity,
    ASSESSED: _assessed,
    SUBMITTED: _submitted,
}


_agency_of = lru_cache(maxsize=1024)(agency_code_of)
_CRITERIA = {"good_movement", "good_management", "good_fight"}
# each kind's fields (`shared.events.models`): anything else is not the contract's event
_FIELDS = {
    REPORTED: frozenset({"indicator", "period", "value", "unit_code", "note"}),
    CORRECTED: frozenset({"corrects", "value", "reason"}),
    ACTIVITY: frozenset(
        {"activity", "date", "participants", "target_groups", "channel", "unit_code", "note"}
    ),
    ASSESSED: frozenset({"unit_code", "year", *_CRITERIA, "note"}),
    SUBMITTED: frozenset({"period", "note"}),
}


def _number(value: Any) -> float:
    """A value as the contract takes it: a JSON number (not a boolean), finite, 0 to MAX_VALUE."""
    if type(value) is not float and type(value) is not int:
        raise TypeError(f"value {value!r} is not a number")
    if not 0 <= value <= MAX_VALUE:  # NaN fails this too
        raise ValueError(f"value {value!r} is negative, not finite or over {MAX_VALUE:g}")
    return value
