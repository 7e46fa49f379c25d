"""The audit trail of a figure, and folding a set of facts from scratch (time travel, rebuild)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.aggregator.domain.facts import ACTIVITY, ASSESSED, CORRECTED, REPORTED, Fact
from services.aggregator.domain.ledger import AgencyLedger
from shared.plan.book import Plans
from shared.plan.index import PlanIndex
from shared.plan.periods import Period


def fold(facts: Iterable[Fact], plan: Plans, until: datetime | None = None) -> dict[str, AgencyLedger]:
    """Every agency's ledger from its facts (those with time <= `until` if given); a repeated
    (source, id) is dropped, as the inbox does."""
    ledgers: dict[str, AgencyLedger] = {}
    seen: set[tuple[str, str]] = set()
    for fact in facts:
        if (fact.source, fact.id) in seen:
            continue
        seen.add((fact.source, fact.id))
        if until is None or fact.time <= until:
            ledgers.setdefault(fact.agency, AgencyLedger(fact.agency)).apply(fact, plan)
    return ledgers


def history(facts: Iterable[Fact], plan: PlanIndex, agency: str, indicator: str, period: str) -> list[dict]:
    """The events behind one figure: applied and superseded reports, every link of their chains
    of corrections with its reason (the latest one applied), counted activities and
    assessments; oldest first."""
    unique = {(f.source, f.id): f for f in facts if f.agency == agency}  # a repeat is one event, as in `fold`
    facts = list(unique.values())
    ledger = fold(facts, plan).get(agency, AgencyLedger(agency))
    wanted = Period.parse(period)
    winners = {f.id for f in ledger.winners()}
    reported = {
        f.id: f
        for f in facts
        if f.kind == REPORTED
        and f.data["indicator"] == indicator
        and wanted.covers(Period.parse(f.data["period"]))
    }
    entries: list[tuple] = []
    for f in facts:
        entry: dict[str, Any] = {
            "source": f.source,
            "id": f.id,
            "type": f.kind,
            "time": f.time.isoformat(),
            "data": f.data,
        }
        if f.id in reported:
            correction = ledger.corrections.get(f.id)
            entry["role"] = "applied" if f.id in winners else "superseded"
            entry["value"] = ledger.value_of(f)
            if correction:
                entry["corrected_by"] = correction.id
                entry["corrections"] = [c.id for c in ledger.chain(f.id)]  # every link, oldest first
        elif f.kind == CORRECTED and (root := ledger.root_of(f.id)) in reported:
            latest: Any = ledger.corrections.get(root)
            entry["role"] = "correction" if latest and latest.id == f.id else "superseded_correction"
            entry["value"] = f.data["value"]
            entry["reason"] = f.data["reason"]
            entry["corrects"] = f.data["corrects"]  # the link it names: the report or an earlier correction
            entry["report"] = root
        elif f.kind == ACTIVITY and wanted.contains(f.day, plan.cutoff_day):
            measures = [
                c.measure
                for c in plan.activity_type(f.data["activity"]).counts_into
                if c.indicator == indicator
            ]
            if not measures:
                continue
            entry["role"] = "counted"
            entry["value"] = sum(
                1.0 if m == "count" else float(f.data.get("participants", 0)) for m in measures
            )
        elif (
            f.kind == ASSESSED
            and indicator == plan.commune_assessment_indicator
            and wanted.kind == "year"
            and f.data["year"] == wanted.year
        ):
            latest = ledger.assessed.get((f.data["unit_code"], f.data["year"]))
            entry["role"] = "assessment" if latest and latest.id == f.id else "superseded_assessment"
        else:
            continue
        entries.append((f.order, entry))
    return [e for _, e in sorted(entries, key=lambda pair: pair[0])]
