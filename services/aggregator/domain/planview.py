"""The aggregator reads the plan through the shared index (`shared.plan.index`): the same checks
as intake's, and the lookups in plain dicts that the fold and the evaluation ask for per event."""

from __future__ import annotations

from shared.plan.index import PlanIndex
from shared.plan.model import Plan


def view(plan: Plan) -> PlanIndex:
    return plan.index
