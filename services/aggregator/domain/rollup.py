"""Area-wide figures: the plan's roll-ups (shared/plan/rollups.py) over the agencies' ledgers.

An agency's rolled figure for an indicator is its own figure plus the rolled figures of the
agencies the plan rolls up into it (district police into the provincial police, townships into
their district); the loader has made that a tree per indicator, so every agency's own figure,
hence every unit's, is counted once. The province-wide figure of an indicator adds up the rolled
figures of the agencies that roll up into nobody.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.aggregator.domain.ledger import AgencyLedger
from shared.plan.index import PlanIndex


def members(plan: PlanIndex, agency: str, indicator: str) -> list[str]:
    """The agencies whose figures roll up into `agency`'s for `indicator` (directly)."""
    return [m for r in plan.rollups if r.agency == agency and indicator in r.indicators for m in r.members]


def rolled_into(plan: PlanIndex, indicator: str) -> dict[str, str]:
    """member -> the agency it rolls up into, for one indicator."""
    return {m: r.agency for r in plan.rollups if indicator in r.indicators for m in r.members}


def rolled(
    ledgers: Mapping[str, AgencyLedger], plan: PlanIndex, agency: str, indicator: str, period: str
) -> dict:
    """`{agency, indicator, period, actual, own, parts}`: `own` is the agency's own figure (None
    when it has none), `parts` the rolled figures of its members, `actual` their sum with `own`
    (None when nobody has a figure)."""
    ledger = ledgers.get(agency)
    own = ledger.actual(indicator, period, plan) if ledger is not None else None
    parts = [rolled(ledgers, plan, m, indicator, period) for m in members(plan, agency, indicator)]
    known = [v for v in (own, *(p["actual"] for p in parts)) if v is not None]
    return {
        "agency": agency,
        "indicator": indicator,
        "period": period,
        "actual": sum(known) if known else None,
        "own": own,
        "parts": parts,
    }


def province_wide(ledgers: Mapping[str, AgencyLedger], plan: PlanIndex, indicator: str, period: str) -> dict:
    """The indicator's figure for the whole province: every agency that reports it or rolls it up,
    counted once, through the roll-up it belongs to."""
    into = rolled_into(plan, indicator)
    involved = {a.code for a in plan.agencies if indicator in plan.indicators_for(a.code)}
    involved |= {r.agency for r in plan.rollups if indicator in r.indicators} | set(into)
    roots = sorted(a for a in involved if a not in into)
    by_root = [rolled(ledgers, plan, a, indicator, period) for a in roots]
    known = [r["actual"] for r in by_root if r["actual"] is not None]
    return {
        "indicator": indicator,
        "period": period,
        "actual": sum(known) if known else None,
        "agencies": by_root,
    }
