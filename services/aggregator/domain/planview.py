"""A read-only view of the plan with its lookups in plain dicts.

The plan model keeps its indexes in pydantic private attributes, whose access costs a few
microseconds each; the fold looks the plan up several times per event, a million times in a
rebuild. Anything not precomputed here is delegated to the plan itself.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

from services.aggregator.domain.ledger import activity_sums


class PlanView:
    def __init__(self, plan: Any) -> None:
        self.plan = plan
        self.year, self.cutoff_day = plan.year, plan.cutoff_day
        self.thresholds = plan.thresholds
        self.commune_assessment_indicator = plan.commune_assessment_indicator
        self.agencies = plan.agencies
        self.targets = plan.targets
        self.activity_types = plan.activity_types
        self._agencies = {a.code: a for a in plan.agencies}
        self._indicators = {i.code: i for i in plan.indicators}
        self._units = {u.code: u for u in plan.units}
        self._activities = {a.code: a for a in plan.activity_types}
        self._ancestors = {u.code: plan.unit_ancestors(u.code) for u in plan.units}
        self._own = {a.code: {a.unit, *plan.unit_descendants(a.unit)} for a in plan.agencies}
        self._targets_by_agency: dict[str, list] = {}
        for t in plan.targets:
            self._targets_by_agency.setdefault(t.agency, []).append(t)
        self.activity_sums = lru_cache(maxsize=4096)(partial(activity_sums, self))
        # pure functions of the plan that every batch's evaluation asks for, per agency and period
        self.deadline = lru_cache(maxsize=4096)(plan.deadline)
        self.reporting_periods = lru_cache(maxsize=1024)(lambda agency: tuple(plan.reporting_periods(agency)))
        self.accepted: dict[tuple, Any] = {}  # what the plan's checks let through (`facts._accepted`)

    def __getattr__(self, name: str) -> Any:  # only reached for what is not precomputed
        return getattr(self.plan, name)

    def agency(self, code: str):
        return self._agencies[code]

    def indicator(self, code: str):
        return self._indicators[code]

    def unit(self, code: str):
        return self._units[code]

    def activity_type(self, code: str):
        return self._activities[code]

    def unit_ancestors(self, code: str) -> list[str]:
        return self._ancestors[code]

    def is_own_unit(self, agency: str, unit: str) -> bool:
        return unit in self._own[agency]

    def targets_for(self, agency: str | None = None, period: Any = None) -> list:
        if period is None and agency is not None:
            return list(self._targets_by_agency.get(agency, ()))
        return self.plan.targets_for(agency=agency, period=period)


def view(plan: Any) -> Any:
    return plan if isinstance(plan, PlanView) else PlanView(plan)
