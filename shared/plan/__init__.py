"""The plan as data: periods and their windows, the plan model, and its YAML loader."""

from shared.plan.entries import (
    ActivityCount,
    ActivityType,
    Agency,
    Indicator,
    Leader,
    ReportingRule,
    Target,
    Thresholds,
    Unit,
)
from shared.plan.loader import PlanError, PlanIssue, load_plan
from shared.plan.model import Plan
from shared.plan.periods import Period, periods_containing, periods_of_year

__all__ = [
    "ActivityCount",
    "ActivityType",
    "Agency",
    "Indicator",
    "Leader",
    "Period",
    "Plan",
    "PlanError",
    "PlanIssue",
    "ReportingRule",
    "Target",
    "Thresholds",
    "Unit",
    "load_plan",
    "periods_containing",
    "periods_of_year",
]
