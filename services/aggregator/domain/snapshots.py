"""An agency's ledger as bytes, and back: what `ledger_snapshots` keeps (issue 20), so a replica
folds the facts recorded after a snapshot instead of the agency's whole history.

The state is what the fold keeps, not the facts it was folded from: the winning reports (one per
indicator × period × unit), every correction link, the activity sums, the latest assessment per
commune and year, the first submission per period. The chains' latest links are worked out again
from the links (the fold's result does not depend on order), so restoring a snapshot and folding
the rest gives the ledger that folding everything gives (tests/aggregator/unit/test_snapshots.py).
MessagePack through msgspec, typed: nothing in a snapshot is executed or trusted beyond its shape.

A fold depends on a little of the plans: which plan year an activity's day counts into (the
years, their cut-off day and zone), what an activity counts into (the activity types, the months
a milestone falls due in) and which indicator a commune assessment is. A snapshot names those
(`plans_digest`) and is not used under plans that differ in them. Targets, amendments, agencies,
names and leaders are not folded, so changing them leaves the snapshots good: a plan amended
restarts from them as quickly as one unchanged (bench/bench_history.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import lru_cache

import msgspec

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.ledger import AgencyLedger, Correction
from shared.plan.book import Plans


class _State(msgspec.Struct, array_like=True, frozen=True):
    version: int  # of this layout: an unknown one is not read (the facts are folded instead)
    plans: str  # the digest of the plans it was folded under (`plans_digest`)
    reported: list[Fact]
    links: list[
        tuple[datetime, int, str, float, str, str]
    ]  # order (time, arrival, id), value, reason, corrects
    counted: list[tuple[str, str, float]]  # indicator, month (or day), sum
    assessed: list[Fact]
    submitted: list[tuple[str, datetime]]


LAYOUT = 1
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_State).decode


def plans_digest(plans: Plans) -> str:
    """What identifies what a fold reads of the plans (the module's docstring), plan by plan."""
    return _digest(plans.index)


@lru_cache(maxsize=8)
def _digest(plans: Plans) -> str:
    digest = hashlib.sha256()
    for index in plans.indexes:
        plan = index.plan
        read_by_the_fold = {
            "year": plan.year,
            "cutoff_day": plan.cutoff_day,
            "timezone": plan.timezone,
            "activity_types": [a.model_dump(mode="json") for a in plan.activity_types],
            "milestone_months": {i: sorted(m) for i, m in sorted(index.milestone_months.items())},
            "commune_assessment_indicator": plan.commune_assessment_indicator,
        }
        digest.update(json.dumps(read_by_the_fold, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def ledger_state(ledger: AgencyLedger, plans: Plans) -> bytes:
    return _encode(
        _State(
            LAYOUT,
            plans_digest(plans),
            [f for units in ledger.reported.values() for f in units.values()],
            [(*c.order, c.value, c.reason, c.corrects) for c in ledger.links.values()],
            [(indicator, period, value) for (indicator, period), value in ledger.counted.items()],
            list(ledger.assessed.values()),
            list(ledger.submitted.items()),
        )
    )


def ledger_from_state(agency: str, state: bytes, plans: Plans) -> AgencyLedger | None:
    """The ledger a snapshot holds; None for one of another layout or other plans, or unreadable
    (then the facts are folded instead)."""
    try:
        found = _decode(state)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if found.version != LAYOUT or found.plans != plans_digest(plans):
        return None
    ledger = AgencyLedger(agency)
    for f in found.reported:
        units = ledger.reported.setdefault((f.data["indicator"], f.data["period"]), {})
        units[f.data.get("unit_code")] = f
    for time, arrival, id, value, reason, corrects in found.links:
        ledger.links[id] = Correction((time, arrival, id), value, reason, id, corrects)
        ledger.named_by.setdefault(corrects, []).append(id)
    ledger.resolve_chains()
    ledger.counted = {(indicator, period): value for indicator, period, value in found.counted}
    for f in found.assessed:
        ledger.assessed[(f.data["unit_code"], f.data["year"])] = f
    ledger.submitted = dict(found.submitted)
    return ledger
