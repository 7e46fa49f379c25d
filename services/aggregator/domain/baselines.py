"""Baselines from history: a target of `baseline_value: recorded` reaches a factor of the agency's
own figure of `baseline_year`, as Tiendo recorded it (docs/plan.md).

The figure is frozen at the year's last cut-off: it is read from the facts *recorded* by the end of
the day the agency's last report of that year was due (the end of the year's window for an agency
with no reporting rule). Nothing recorded later moves it, so a correction to the old year changes
that year's figure but not this year's target; `Baseline.now` reports the difference instead.
Before that moment the baseline is provisional: the year's figure as it stands.

An agency that did not exist in the baseline year takes its predecessors' figures (`predecessors`
in its plan, each by its share of the work): a commune committee set up on 1 July 2025 has, as
its 2024 baseline, the shares of the committees whose territory it took over. Such a baseline is
read from the predecessors' facts recorded by their last freeze moment; before it, it is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.history import fold
from services.aggregator.domain.ledger import AgencyLedger
from shared.plan.book import Plans
from shared.plan.entries import Predecessor
from shared.plan.index import PlanIndex
from shared.plan.periods import Period

BaselineKey = tuple[str, int]  # (indicator, baseline year)


@dataclass(frozen=True, slots=True)
class Baseline:
    agency: str
    indicator: str
    year: int
    frozen_at: datetime  # the year's last cut-off for the agency
    frozen: bool  # False before that moment: `value` is the figure as it stands
    value: float | None  # the baseline the target uses (None: nothing recorded for the year)
    now: float | None  # the year's figure as recorded now (differs after a later correction)

    @property
    def changed_since(self) -> bool:
        return self.frozen and self.now is not None and self.now != self.value


def recorded_keys(plans: Plans, agency: str) -> frozenset[BaselineKey]:
    """The (indicator, year) figures the agency's targets take their baseline from."""
    return _recorded_keys(plans.index, agency)


@lru_cache(maxsize=4096)  # asked at every evaluation of an agency; the plans never change
def _recorded_keys(plans: Plans, agency: str) -> frozenset[BaselineKey]:
    return frozenset(
        (t.indicator, t.baseline_year)
        for plan in plans.indexes
        for t in plan.targets_for(agency=agency)
        if t.recorded_baseline and t.baseline_year is not None
    )


def baseline_sources(plans: Plans, agency: str, year: int) -> tuple[tuple[str, float], ...]:
    """Whose figures of `year` make the agency's baseline, with their weights: its own if the
    year's plan has it, else its predecessors' (by their shares), back through the plans."""
    return _sources(plans.index, agency, year)


@lru_cache(maxsize=4096)
def _sources(plans: Plans, agency: str, year: int) -> tuple[tuple[str, float], ...]:
    if agency in _plan_of(plans, year).agency_codes:
        return ((agency, 1.0),)
    newest = (p for p in reversed(plans.indexes) if agency in p.agency_codes)
    declared: list[Predecessor] = next((p.agency(agency).predecessors for p in newest), [])
    weights: dict[str, float] = {}
    for before in declared:
        for source, share in _sources(plans, before.agency, year):
            weights[source] = weights.get(source, 0.0) + share * before.share
    return tuple(weights.items())


def is_own(plans: Plans, agency: str, year: int) -> bool:
    """The baseline is the agency's own figure of `year` (not its predecessors')."""
    return baseline_sources(plans, agency, year) == ((agency, 1.0),)


def sources_of(plans: Plans, agency: str, keys: Iterable[BaselineKey]) -> list[str]:
    """The agencies whose facts the baselines `keys` of the agency are read from."""
    return list(dict.fromkeys(s for _, year in keys for s, _ in baseline_sources(plans, agency, year)))


def freeze_moment(plans: Plans, agency: str, year: int) -> datetime:
    """The end of the day the agency's last report of `year` was due (of the year's window); for
    a baseline of predecessors', the last of theirs."""
    if not is_own(plans, agency, year):
        sources = baseline_sources(plans, agency, year)
        return max((freeze_moment(plans, s, year) for s, _ in sources), default=_year_end(plans, year))
    plan = _plan_of(plans, year)
    periods = plan.reporting_periods(agency)
    if periods:
        return plan.deadline(agency, periods[-1])
    return _year_end(plans, year)


def _year_end(plans: Plans, year: int) -> datetime:
    plan = _plan_of(plans, year)
    last_day = Period(year, "year", 1).window(plan.cutoff_day)[1]
    return datetime.combine(last_day, time.max, tzinfo=plan.tz)


def due_to_freeze(
    plans: Plans, agency: str, now: datetime, have: Iterable[BaselineKey] = ()
) -> dict[datetime, list[BaselineKey]]:
    """The agency's recorded baselines frozen by `now` and not in `have`, by their moment: each
    group is read from the facts recorded by that moment (`frozen_figures`)."""
    known = set(have)
    due: dict[datetime, list[BaselineKey]] = {}
    for key in sorted(recorded_keys(plans, agency)):
        moment = freeze_moment(plans, agency, key[1])
        if key not in known and now > moment:
            due.setdefault(moment, []).append(key)
    return due


def figure(ledger: AgencyLedger, plans: Plans, indicator: str, year: int) -> float | None:
    """The agency's figure of the whole year, by that year's plan."""
    return ledger.actual(indicator, str(year), _plan_of(plans, year))


def carried(
    ledgers: dict[str, AgencyLedger], plans: Plans, agency: str, indicator: str, year: int
) -> float | None:
    """The baseline's figure from its sources' ledgers: None unless every source has one (a
    missing predecessor would understate it; no guess)."""
    total = 0.0
    for source, share in baseline_sources(plans, agency, year):
        found = figure(ledgers.get(source, AgencyLedger(source)), plans, indicator, year)
        if found is None:
            return None
        total += share * found
    return total


def frozen_figures(
    facts_recorded_by: Iterable[Fact], plans: Plans, agency: str, keys: Iterable[BaselineKey]
) -> dict[BaselineKey, float | None]:
    """The frozen baselines from the facts of their sources (`sources_of`) recorded by their
    freeze moments (the caller loads them: `freeze_moment`)."""
    ledgers = fold(facts_recorded_by, plans)
    return {key: carried(ledgers, plans, agency, *key) for key in keys}


def baselines_of(
    ledger: AgencyLedger,
    plans: Plans,
    now: datetime,
    frozen: dict[BaselineKey, float | None] | None = None,
    sources: dict[str, AgencyLedger] | None = None,
) -> dict[BaselineKey, Baseline]:
    """Every recorded baseline of the agency as of `now`: frozen ones from `frozen` (required once
    their moment has passed), provisional ones from the live ledgers: the agency's own, and its
    predecessors' in `sources` (without them, a baseline of predecessors' is unknown until frozen)."""
    ledgers = {**(sources or {}), ledger.agency: ledger}
    out = {}
    for indicator, year in recorded_keys(plans, ledger.agency):
        moment = freeze_moment(plans, ledger.agency, year)
        own = is_own(plans, ledger.agency, year)
        current = (
            carried(ledgers, plans, ledger.agency, indicator, year) if own or sources is not None else None
        )
        is_frozen = now > moment
        if is_frozen and (frozen is None or (indicator, year) not in frozen):
            raise LookupError(
                f"the {year} baseline of {ledger.agency} × {indicator} froze at {moment}: load it"
            )
        value = frozen[(indicator, year)] if is_frozen and frozen is not None else current
        out[(indicator, year)] = Baseline(ledger.agency, indicator, year, moment, is_frozen, value, current)
    return out


def _plan_of(plans: Plans, year: int) -> PlanIndex:
    return plans.index.index_for(year=year)
