"""The plan file → the domain's Directory snapshot."""

from __future__ import annotations

from pathlib import Path

from services.notifier.domain.directory import Agency, Directory, Indicator, Leader
from shared.plan import Plan
from shared.plan.book import load_plans


def directory_from_plan(plan: Plan) -> Directory:
    agencies = {
        a.code: Agency(
            code=a.code,
            name_vi=a.name_vi,
            name_en=a.name_en,
            renamed=a.renamed,
            parent=a.parent,
            leaders=tuple(Leader(lead.name, lead.email, lead.title, lead.language) for lead in a.leaders),
            chain=tuple(c.code for c in plan.escalation_chain(a.code)),
        )
        for a in plan.agencies
    }
    indicators = {
        i.code: Indicator(i.code, i.name_vi, i.name_en, i.unit_vi, i.unit_en, i.kind) for i in plan.indicators
    }
    return Directory(
        agencies=agencies,
        indicators=indicators,
        cutoff_day=plan.cutoff_day,
        timezone=plan.timezone,
        plan_year=plan.year,
        plan_code=plan.code,
        plan_title=plan.title,
        denominators={
            (t.agency, t.indicator, t.period): t.denominator for t in plan.targets if t.denominator
        },
        plans={plan.year: (plan.code, plan.title)},
    )


def load_directory(path: Path) -> Directory:
    """A plan file's directory, or a folder's: the newest plan's, with what only older plans name
    (an agency, an indicator, a ratio's denominator) added, so an older year's alert still finds
    its words and its leaders."""
    plans = list(load_plans(path))
    directory = directory_from_plan(plans[-1])
    for older in map(directory_from_plan, reversed(plans[:-1])):
        directory.agencies = {**older.agencies, **directory.agencies}
        directory.indicators = {**older.indicators, **directory.indicators}
        directory.denominators = {**older.denominators, **directory.denominators}
        directory.plans = {**older.plans, **directory.plans}
    return directory
