"""One agency's figures, folded from its facts in any order.

- `indicator.reported` is cumulative: per (indicator, period, unit) the latest by time (then by
  arrival) wins; `indicator.corrected` replaces the value of the event it names, whenever it
  arrives (before or after that event). A correction may name a report or a correction of it:
  the links naming one report, directly or through each other, are its chain, and the chain's
  latest link (by time, then arrival, then id) gives the value, whatever order they arrive in.
- `activity.recorded` adds a count or its participants to the indicators the plan names, in
  every period whose window holds its date; `commune.assessed` counts passing communes.
- Roll-up: a period without a figure of its own is made of its sub-periods (flows add up,
  stocks take the latest); units without an agency-level figure add up to the agency where
  the indicator sums, a unit's own figure standing for everything below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from services.aggregator.domain.facts import ACTIVITY, ASSESSED, CORRECTED, REPORTED, SUBMITTED, Fact
from shared.plan.book import Plans
from shared.plan.index import PlanIndex, Rejected
from shared.plan.periods import Period, PeriodKind

_CHILDREN: dict[str, PeriodKind] = {"year": "half", "half": "quarter", "quarter": "month"}
# Kinds whose fold adds up: applying one of these facts twice counts it twice. Applying any
# other fact again (the same record: same time, arrival and id) changes nothing.
ADDS_UP = frozenset({ACTIVITY})
_NONE = object()  # in an undo log: the sum did not exist


@dataclass(slots=True)
class Correction:
    order: tuple
    value: float
    reason: str
    id: str
    corrects: str = ""  # the event this link names: a report, or an earlier link of its chain


@dataclass
class AgencyLedger:
    agency: str
    # (indicator, period) -> {unit (None = the agency itself): the winning reported fact}
    reported: dict[tuple[str, str], dict[str | None, Fact]] = field(default_factory=dict)
    corrections: dict[str, Correction] = field(default_factory=dict)  # chain root -> its latest link
    links: dict[str, Correction] = field(default_factory=dict)  # every correction, by its own id
    named_by: dict[str, list[str]] = field(default_factory=dict)  # event id -> corrections naming it
    counted: dict[tuple[str, str], float] = field(default_factory=dict)  # (indicator, month) -> sum
    assessed: dict[tuple[str, int], Fact] = field(default_factory=dict)  # (commune, year) -> latest
    submitted: dict[str, datetime] = field(default_factory=dict)  # period -> first submission

    def apply(self, fact: Fact, plan: Plans, undo: dict | None = None) -> Iterable[str]:
        """Fold one new fact in (an activity and an assessment by the plan of their day and
        year); returns the indicators whose figures may have changed. With
        `undo`, the sums a fact that adds up changes are noted there first (their values before
        the first change), for `restore`."""
        d = fact.data
        if fact.kind == REPORTED:  # the commonest: plain lookups, no set made per event
            key = (d["indicator"], d["period"])
            units = self.reported.get(key)
            if units is None:
                units = self.reported[key] = {}
            unit = d.get("unit_code")
            current = units.get(unit)
            # `order` spelled out: the commonest comparison, two property calls fewer
            if current is None or (fact.time, fact.arrival, fact.id) > (
                current.time,
                current.arrival,
                current.id,
            ):
                units[unit] = fact
            return key[:1]
        if fact.kind == CORRECTED:
            if fact.id not in self.links:  # the same record again changes nothing
                self.links[fact.id] = Correction(fact.order, d["value"], d["reason"], fact.id, d["corrects"])
                self.named_by.setdefault(d["corrects"], []).append(fact.id)
                # chains that ended at this link while it was unknown now end at its root
                self.corrections.pop(fact.id, None)
                root = self.root_of(fact.id)
                if root is not None:
                    self._resolve(root)
            # which indicator it corrects is not indexed (a map per event would cost memory):
            # re-evaluating the agency's reported indicators is cheap and always enough
            return {indicator for indicator, _ in self.reported}
        if fact.kind == ACTIVITY:
            # counted per reporting month only: a quarter, half or year adds its months up (`_counted`)
            try:
                of_day = plan.index.index_for(day=d["date"])
            except Rejected:  # a day of no loaded plan counts into nothing, as one outside a plan's year
                return ()
            sums, indicators = of_day.activity_sums(d["activity"], d["date"])
            participants = float(d.get("participants", 0))
            counted = self.counted
            for key, by_participants in sums:
                if undo is not None and key not in undo:
                    undo[key] = counted.get(key, _NONE)
                counted[key] = counted.get(key, 0.0) + (participants if by_participants else 1.0)
            return indicators
        if fact.kind == ASSESSED:
            key = (d["unit_code"], d["year"])
            current = self.assessed.get(key)
            if current is None or fact.order > current.order:
                self.assessed[key] = fact
            try:
                indicator = plan.index.index_for(year=d["year"]).commune_assessment_indicator
            except Rejected:
                return ()
            return (indicator,) if indicator else ()
        if fact.kind == SUBMITTED:
            first = self.submitted.get(d["period"])
            if first is None or fact.time < first:
                self.submitted[d["period"]] = fact.time
            return ()
        raise ValueError(f"unknown fact kind {fact.kind!r}")

    def restore(self, undo: dict) -> None:
        """Put the sums an `undo` log noted back as they were (absent ones removed)."""
        for key, before in undo.items():
            if before is _NONE:
                del self.counted[key]
            else:
                self.counted[key] = before

    def root_of(self, correction_id: str) -> str | None:
        """The event a chain of corrections ends at (None for a loop, which names no report)."""
        seen, cur = {correction_id}, self.links[correction_id].corrects
        while cur in self.links:
            if cur in seen:
                return None
            seen.add(cur)
            cur = self.links[cur].corrects
        return cur

    def chain(self, root: str) -> list[Correction]:
        """Every link naming `root`, directly or through another link; oldest first."""
        found: dict[str, Correction] = {}
        todo = list(self.named_by.get(root, ()))
        while todo:
            link = self.links[todo.pop()]
            if link.id not in found:
                found[link.id] = link
                todo += self.named_by.get(link.id, ())
        return sorted(found.values(), key=lambda c: c.order)

    def resolve_chains(self) -> None:
        """Every chain's latest link worked out from the links alone (a ledger restored from a
        snapshot): what folding them one by one, in any order, leaves."""
        self.corrections = {}
        for id in self.links:
            root = self.root_of(id)
            if root is not None and root not in self.corrections:
                self._resolve(root)

    def _resolve(self, root: str) -> None:
        links = self.chain(root)
        if links:
            self.corrections[root] = links[-1]

    def value_of(self, fact: Fact) -> float:
        """A reported fact's value after the latest link of its chain of corrections."""
        correction = self.corrections.get(fact.id)
        return correction.value if correction else fact.data["value"]

    def actual(self, indicator: str, period: str, plan: PlanIndex) -> float | None:
        """The agency's figure for an indicator and period; None when nothing is known."""
        reported = self._reported(indicator, Period.parse(period), plan)
        extra = self._counted(indicator, period)
        if indicator == plan.commune_assessment_indicator and Period.parse(period).kind == "year":
            year = Period.parse(period).year
            passed = [f for (unit, y), f in self.assessed.items() if y == year and _passed(f)]
            if passed or any(y == year for _, y in self.assessed):
                extra = (extra or 0.0) + len(passed)
        if reported is None and extra is None:
            return None
        return (reported or 0.0) + (extra or 0.0)

    def actual_until(self, indicator: str, period: str, plan: PlanIndex, due: date) -> float | None:
        """A milestone's figure: only the work dated on or before `due` (docs/aggregator.md).
        Activities by their date; a reported figure by its period's window, or, for a period
        that runs past `due`, by the time it was stated (a cumulative figure stated by then)."""
        until = datetime.combine(due, time(23, 59, 59), plan.tz)
        reported = self._reported_until(indicator, Period.parse(period), plan, due, until)
        sums = []
        for month in Period.parse(period).months():
            start, end = month.window(plan.cutoff_day)
            if end <= due:
                sums.append(self.counted.get((indicator, str(month))))
            elif start <= due:  # the month the milestone falls in: its days up to `due`
                sums += [
                    self.counted.get((indicator, (start + timedelta(days=i)).isoformat()))
                    for i in range((due - start).days + 1)
                ]
        known = [v for v in sums if v is not None]
        extra = sum(known) if known else None
        if reported is None and extra is None:
            return None
        return (reported or 0.0) + (extra or 0.0)

    def _reported_until(
        self, indicator: str, period: Period, plan: PlanIndex, due: date, until: datetime
    ) -> float | None:
        start, end = period.window(plan.cutoff_day)
        if end <= due:
            return self._reported(indicator, period, plan)
        if start > due:
            return None
        here = self._across_units(indicator, _name(period), plan, until)
        if here is not None or period.kind not in _CHILDREN:
            return here
        parts = [
            self._reported_until(indicator, p, plan, due, until)
            for p in _sub_periods(period, _CHILDREN[period.kind])
        ]
        known = [v for v in parts if v is not None]
        if not known:
            return None
        return sum(known) if plan.indicator(indicator).aggregation == "sum" else known[-1]

    def _counted(self, indicator: str, period: str) -> float | None:
        """What activities add to a period: the sum of its reporting months' counts."""
        counted = self.counted
        sums = [counted[key] for month in _months_of(period) if (key := (indicator, month)) in counted]
        return sum(sums) if sums else None

    def _reported(self, indicator: str, period: Period, plan: PlanIndex) -> float | None:
        here = self._across_units(indicator, _name(period), plan)
        if here is not None or period.kind not in _CHILDREN:
            return here
        kind = _CHILDREN[period.kind]
        parts = [(p, self._reported(indicator, p, plan)) for p in _sub_periods(period, kind)]
        known = [(p, v) for p, v in parts if v is not None]
        if not known:
            return None
        if plan.indicator(indicator).aggregation == "sum":
            return sum(v for _, v in known)
        return known[-1][1]  # a stock: the latest sub-period's figure

    def winners(self):
        """Every reported fact that currently stands for its (indicator, period, unit)."""
        return (f for units in self.reported.values() for f in units.values())

    def _across_units(
        self, indicator: str, period: str, plan: PlanIndex, until: datetime | None = None
    ) -> float | None:
        units = self.reported.get((indicator, period))
        if until is not None and units:  # only figures stated by then (a milestone's due date)
            units = {u: f for u, f in units.items() if f.time <= until}
        if not units:
            return None
        own = units.get(None) or units.get(plan.agency(self.agency).unit)
        if own is not None:
            return self.value_of(own)
        if plan.indicator(indicator).aggregation != "sum":
            return None
        # a unit's own figure already covers its descendants: count only the topmost ones
        top = [u for u in units if u is not None and not any(a in units for a in _ancestors(plan, u))]
        return sum(self.value_of(units[u]) for u in sorted(top))


@lru_cache(maxsize=256)
def _months_of(period: str) -> tuple[str, ...]:
    return tuple(str(m) for m in Period.parse(period).months())


def _passed(fact: Fact) -> bool:
    d = fact.data
    return bool(d["good_movement"] and d["good_management"] and d["good_fight"])


@lru_cache(maxsize=1024)  # a plan year has 19 periods; evaluations ask again every batch
def _sub_periods(period: Period, kind: PeriodKind) -> tuple[Period, ...]:
    months = tuple(period.months())
    if kind == "month":
        return months
    span = {"half": 6, "quarter": 3}[kind]
    first = (months[0].index - 1) // span + 1
    return tuple(Period(period.year, kind, first + i) for i in range(len(months) // span))


_name = lru_cache(maxsize=1024)(str)  # a period's text, e.g. `2024-Q3`


def _ancestors(plan: PlanIndex, unit: str) -> list[str]:
    return [u if isinstance(u, str) else u.code for u in plan.unit_ancestors(unit)]
