"""The aggregator reads the plan through the shared index (`shared.plan.index`): the same checks
as intake's, and the lookups in plain dicts that the fold and the evaluation ask for per event."""

from __future__ import annotations

from typing import Any

from shared.plan.index import PlanIndex


def view(plan: Any) -> PlanIndex:
    return plan.index
