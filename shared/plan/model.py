"""The plan as data: units, agencies, indicators, targets and the reporting schedule.

Pure pydantic models, frozen once validated. `Plan` checks that every reference resolves and
builds dictionaries so that services look things up in O(1). Errors carry the location of the
offending entry (`targets[3].agency`) so that the loader can point at the YAML line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, PrivateAttr, model_validator

from shared.plan.amendments import Amendment, TargetVersions, amend
from shared.plan.entries import (
    UNIT_DEPTH,
    ActivityType,
    Agency,
    AgencyKind,
    Frozen,
    Indicator,
    Loc,
    ReportingRule,
    Target,
    Thresholds,
    Unit,
    fail_with,
    known_zone,
    name_on,
    unknown_ref,
)
from shared.plan.periods import Period, check_cutoff_day, periods_of_year
from shared.plan.rollups import Rollup, rollup_problems
from shared.plan.rules import TargetRule, expand_rules

if TYPE_CHECKING:
    from shared.plan.index import PlanIndex

# A plan that names neither: the province's zone, and monthly windows from the 15th to the 14th
# (Decree 09/2019/NĐ-CP). Only the model reads these; everything else asks the plan.
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_CUTOFF_DAY = 14


class Plan(Frozen):
    code: str
    title: str
    year: int = Field(ge=2000, le=2100)
    timezone: Annotated[str, AfterValidator(known_zone)] = DEFAULT_TIMEZONE
    cutoff_day: Annotated[int, AfterValidator(check_cutoff_day)] = DEFAULT_CUTOFF_DAY
    sample_data_note: str
    units: list[Unit] = Field(min_length=1)
    agency_kinds: list[AgencyKind] = []
    agencies: list[Agency] = Field(min_length=1)
    indicators: list[Indicator] = Field(min_length=1)
    activity_types: list[ActivityType] = []
    # once validated: the rules' targets (rule by rule), then the explicit rows (docs/plan.md)
    targets: list[Target] = []
    target_rules: list[TargetRule] = []  # targets for every agency of a kind (shared/plan/rules.py)
    reporting: list[ReportingRule] = []
    thresholds: Thresholds = Thresholds()
    commune_assessment_indicator: str | None = None
    rollups: list[Rollup] = []  # area-wide figures made of several agencies' (shared/plan/rollups.py)
    amendments: list[Amendment] = []  # targets changed from a date on (shared/plan/amendments.py)

    _units: dict[str, Unit] = PrivateAttr(default_factory=dict)
    _agencies: dict[str, Agency] = PrivateAttr(default_factory=dict)
    _indicators: dict[str, Indicator] = PrivateAttr(default_factory=dict)
    _activity_types: dict[str, ActivityType] = PrivateAttr(default_factory=dict)
    _targets: dict[tuple[str, str, str], Target] = PrivateAttr(default_factory=dict)
    _rules: dict[str, ReportingRule] = PrivateAttr(default_factory=dict)
    _ancestors: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    _descendants: dict[str, set[str]] = PrivateAttr(default_factory=dict)
    _committee: Agency | None = PrivateAttr(default=None)
    _reported: dict[str, set[str]] = PrivateAttr(default_factory=dict)
    _plan_index: Any = PrivateAttr(default=None)
    _replaced: dict[str, list[tuple[Target, int]]] = PrivateAttr(default_factory=dict)
    _versions: TargetVersions = PrivateAttr(default=TargetVersions({}))
    _agency_spans: dict[str, tuple[date | None, date | None]] = PrivateAttr(default_factory=dict)
    _successors: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self) -> Plan:
        problems: list[tuple[Loc, str]] = []
        units, agencies, indicators = (
            self._index("units", self.units, problems),
            self._index("agencies", self.agencies, problems),
            self._index("indicators", self.indicators, problems),
        )
        self._units, self._agencies, self._indicators = units, agencies, indicators
        self._activity_types = self._index("activity_types", self.activity_types, problems)
        kinds = self._index("agency_kinds", self.agency_kinds, problems)
        self._agency_spans = {a.code: (a.valid_from, a.valid_to) for a in self.agencies}
        located = self._expand_targets(units, indicators, kinds, problems)
        target_refs = (
            ("agency", agencies, "agency"),
            ("indicator", indicators, "indicator"),
            ("denominator", indicators, "indicator"),
        )
        refs: list[tuple[Loc, str | None, dict[str, Any], str]] = [
            *((("units", i, "parent"), u.parent, units, "unit") for i, u in enumerate(self.units)),
            *((("agencies", i, "unit"), a.unit, units, "unit") for i, a in enumerate(self.agencies)),
            *((("agencies", i, "parent"), a.parent, agencies, "agency") for i, a in enumerate(self.agencies)),
            *((("activity_types", i, "counts_into", j, "indicator"), c.indicator, indicators, "indicator")
              for i, t in enumerate(self.activity_types) for j, c in enumerate(t.counts_into)),
            *((("reporting", i, "agency"), r.agency, agencies, "agency")
              for i, r in enumerate(self.reporting)),
            *((("reporting", i, "indicators", j), code, indicators, "indicator")
              for i, r in enumerate(self.reporting) for j, code in enumerate(r.indicators)),
            *((("agencies", i, "kind"), a.kind, kinds, "agency kind") for i, a in enumerate(self.agencies)),
            *((where(f), getattr(t, f), table, what)  # a rule's references are checked with it
              for t, where in located if t.rule is None for f, table, what in target_refs),
            (("commune_assessment_indicator",), self.commune_assessment_indicator, indicators, "indicator"),
        ]  # fmt: skip
        for loc, code, table, what in refs:
            if code is not None and code not in table:
                problems.append((loc, unknown_ref(what, code, table)))

        for i, u in enumerate(self.units):
            parent = units.get(u.parent or "")
            if parent is not None and UNIT_DEPTH[parent.kind] >= UNIT_DEPTH[u.kind]:
                message = f"a {u.kind} cannot sit under a {parent.kind} ({u.parent})"
                problems.append((("units", i, "parent"), message))
            if u.valid_from and u.valid_to and u.valid_to < u.valid_from:
                problems.append((("units", i, "valid_to"), "ends before valid_from"))
            if u.successors and u.valid_to is None:
                problems.append(
                    (("units", i, "successors"), "a unit with successors ends: give its valid_to")
                )
            for j, code in enumerate(u.successors):
                successor = units.get(code)
                if successor is None:
                    problems.append((("units", i, "successors", j), unknown_ref("unit", code, units)))
                elif code == u.code:
                    problems.append((("units", i, "successors", j), "a unit cannot succeed itself"))
                elif u.valid_to and not successor.active_on(u.valid_to + timedelta(days=1)):
                    message = (
                        f"{code} is not in force on {u.valid_to + timedelta(days=1)}, the day {u.code} ends"
                    )
                    problems.append((("units", i, "successors", j), message))

        problems += self._check_succession(agencies)
        committees = [i for i, a in enumerate(self.agencies) if a.is_steering_committee]
        if not committees:
            message = "no agency is the steering committee (is_steering_committee: true)"
            problems.append((("agencies",), message))
        for i in committees[1:]:
            message = f"a second steering committee; {self.agencies[committees[0]].code} is already one"
            problems.append((("agencies", i, "is_steering_committee"), message))
        for i, a in enumerate(self.agencies):
            seen, cur = {a.code}, a.parent
            while cur in agencies:  # escalation must end somewhere
                if cur in seen:
                    problems.append((("agencies", i, "parent"), f"escalation loops back to {cur}"))
                    break
                seen.add(cur)
                cur = agencies[cur].parent

        for i, r in enumerate(self.reporting):
            if r.agency in self._rules:
                problems.append((("reporting", i, "agency"), f"{r.agency} already has a reporting rule"))
            self._rules.setdefault(r.agency, r)
            counted = {c.indicator for a in self.activity_types for c in a.counts_into}
            for j, code in enumerate(r.from_activities):
                if code not in r.indicators:
                    problems.append(
                        (
                            ("reporting", i, "from_activities", j),
                            f"{code} is not one of the rule's indicators",
                        )
                    )
                elif code not in counted and code in indicators:
                    problems.append(
                        (
                            ("reporting", i, "from_activities", j),
                            f"no activity type counts into {code}, so no activity could make its figure",
                        )
                    )
        by_rules: list[tuple[Loc, str]] = []  # one rule's agencies and periods share a mistake
        for t, where in located:
            self._check_target(where, t, by_rules if t.rule else problems)
        problems += _grouped(by_rules)
        problems += rollup_problems(self.rollups, agencies, indicators, units)
        for i, t in enumerate(self.targets):
            if t.amendment is not None:
                problems.append((("targets", i, "amendment"), "only an amendment's targets name it"))
        window = Period(self.year, "year", 1).window(self.cutoff_day)
        rules = {r.id for r in self.target_rules}
        self._versions, added, amendment_problems = amend(self.targets, self.amendments, rules, window)
        problems += amendment_problems
        for t, here in added:  # checked as a row of the plan, at its change
            for field, table, what in target_refs:
                code = getattr(t, field)
                if code is not None and code not in table:
                    problems.append(((*here, field), unknown_ref(what, code, table)))
            self._check_target(_change_loc(here), t, problems)
        object.__setattr__(self, "targets", [*self.targets, *(t for t, _ in added)])  # still validating
        problems += self._entries_of_amendments()
        problems += self._apply_renames(units, agencies)
        fail_with(list(dict.fromkeys(problems)), "Plan")  # a rule's agencies share its mistakes
        self._committee = self.agencies[committees[0]]
        for r in self.reporting:
            self._reported.setdefault(r.agency, set()).update(r.indicators)
        for t in self.targets:
            self._reported.setdefault(t.agency, set()).update(c for c in (t.indicator, t.denominator) if c)
        for u in self.units:  # the hierarchy is now known to be acyclic (kinds nest strictly)
            chain, cur = [], u.parent
            while cur is not None:
                chain.append(cur)
                self._descendants.setdefault(cur, set()).add(u.code)
                cur = units[cur].parent
            self._ancestors[u.code] = chain
        return self

    def _entries_of_amendments(self) -> list[tuple[Loc, str]]:
        """An agency or unit an amendment brings in names it, and is in force from its day."""
        problems: list[tuple[Loc, str]] = []
        effective = {a.id: a.effective for a in self.amendments}
        sections: tuple[tuple[str, Sequence[Agency | Unit]], ...] = (
            ("agencies", self.agencies),
            ("units", self.units),
        )
        for section, entries in sections:
            for i, e in enumerate(entries):
                if e.amendment is None:
                    continue
                day = effective.get(e.amendment)
                if day is None:
                    problems.append(
                        ((section, i, "amendment"), unknown_ref("amendment", e.amendment, effective))
                    )
                elif e.valid_from != day:
                    message = (
                        f"an entry of amendment {e.amendment} is in force from its day: valid_from: {day}"
                    )
                    problems.append(((section, i, "valid_from"), message))
        return problems

    def _apply_renames(self, units: dict[str, Unit], agencies: dict[str, Agency]) -> list[tuple[Loc, str]]:
        """Each entry's names from the amendments' days on (oldest first), and every rename that
        names no entry, falls outside its entry's validity, or changes nothing, at its field."""
        problems: list[tuple[Loc, str]] = []
        names: dict[tuple[str, str], list[tuple[date, str, str]]] = {}
        for i, a in sorted(enumerate(self.amendments), key=lambda p: (p[1].effective, p[0])):
            for j, r in enumerate(a.renames):
                here: Loc = ("amendments", i, "renames", j)
                field, code = ("agency", r.agency) if r.agency is not None else ("unit", str(r.unit))
                table: dict[str, Any] = agencies if field == "agency" else units
                entry: Agency | Unit | None = table.get(code)
                if entry is None:
                    problems.append(((*here, field), unknown_ref(field, code, table)))
                    continue
                if not (entry.valid_from or a.effective) <= a.effective <= (entry.valid_to or a.effective):
                    ended = entry.valid_to is not None and entry.valid_to < a.effective
                    when = f"it ends on {entry.valid_to}" if ended else f"it starts on {entry.valid_from}"
                    problems.append(((*here, field), f"{code} is not in force on {a.effective}: {when}"))
                    continue
                old = name_on(*_names_of(entry), entry.renamed, a.effective)
                new = (str(r.name), str(r.name)) if r.name else (str(r.name_vi), r.name_en or old[1])
                if new == old:
                    named = "name" if r.name else "name_vi"
                    problems.append(((*here, named), f"{code} is already named {old[0]!r}"))
                names.setdefault((field, code), []).append((a.effective, *new))
                entry._renamed = tuple(names[(field, code)])
        return problems

    def _check_succession(self, agencies: dict[str, Agency]) -> list[tuple[Loc, str]]:
        """Agencies' validity and who takes over whose work: a predecessor ends, its successor is
        in force the next day, and a split shares out at most all of the work."""
        problems: list[tuple[Loc, str]] = []
        taken: dict[str, list[tuple[int, int]]] = {}  # predecessor -> (agency, entry) that name it
        for i, a in enumerate(self.agencies):
            start, end = self._agency_spans[a.code]
            if start and end and end < start:
                problems.append((("agencies", i, "valid_to"), f"ends on {end}, before it starts on {start}"))
            for j, p in enumerate(a.predecessors):
                where: Loc = ("agencies", i, "predecessors", j, "agency")
                before = self._agency_spans.get(p.agency)
                if before is None:
                    problems.append((where, unknown_ref("agency", p.agency, agencies)))
                elif p.agency == a.code:
                    problems.append((where, "an agency cannot succeed itself"))
                elif before[1] is None:
                    message = f"{p.agency} never ends (it has no valid_to): nothing passes to {a.code}"
                    problems.append((where, message))
                elif not self.agency_in_force_on(a.code, before[1] + timedelta(days=1)):
                    day = before[1] + timedelta(days=1)
                    problems.append(
                        (where, f"{a.code} is not in force on {day}, the day after {p.agency} ends")
                    )
                else:
                    taken.setdefault(p.agency, []).append((i, j))
        for code, entries in taken.items():
            shares = [(self.agencies[i].code, self.agencies[i].predecessors[j].share) for i, j in entries]
            total = sum(share for _, share in shares)
            if total > 1 + 1e-9:
                i, j = entries[-1]
                named = ", ".join(f"{c} {share:g}" for c, share in shares)
                message = (
                    f"the shares of {code}'s work add up to {total:g} ({named}): "
                    "a split shares out at most all of it (give each successor its `share`)"
                )
                problems.append((("agencies", i, "predecessors", j, "share"), message))
            for i, _ in entries:
                self._successors.setdefault(code, []).append(self.agencies[i].code)
        return problems

    def _expand_targets(
        self,
        units: dict[str, Unit],
        indicators: dict[str, Indicator],
        kinds: dict[str, AgencyKind],
        problems: list[tuple[Loc, str]],
    ) -> list[tuple[Target, Callable[[str], Loc]]]:
        """Replace `targets` by the rules' targets then the explicit rows (an explicit row wins
        over a rule's target for its agency × indicator × period); each with where its fields are."""
        explicit = {(t.agency, t.indicator, t.period): i for i, t in enumerate(self.targets)}
        for i, t in enumerate(self.targets):
            if t.rule is not None:
                message = "only a target rule's targets name a rule; a row of its own replaces the rule's"
                problems.append((("targets", i, "rule"), message))
        expansions, rule_problems = expand_rules(
            self.target_rules, self.agencies, units, indicators, kinds, self.year, self.agency_reports
        )
        problems += rule_problems
        located: list[tuple[Target, Callable[[str], Loc]]] = []
        kept: set[int] = set()
        for e in expansions:
            t = e.target
            row = explicit.get((t.agency, t.indicator, t.period))
            if row is None:
                located.append((t, e.loc))
                kept.add(e.rule_index)
            else:
                self._replaced.setdefault(t.rule or "", []).append((t, row))
        made = {e.rule_index for e in expansions}
        for i in sorted(made - kept):
            message = "every target the rule makes is replaced by a row of `targets`: the rule does nothing"
            problems.append((("target_rules", i), message))
        located += [(t, _row_loc(i)) for i, t in enumerate(self.targets)]
        object.__setattr__(
            self, "targets", [t for t, _ in located]
        )  # still validating: not yet frozen for use
        return located

    def _check_target(self, where: Callable[[str], Loc], t: Target, problems: list[tuple[Loc, str]]) -> None:
        period = t.as_period
        if period.year != self.year:
            problems.append((where("period"), f"{t.period} is outside the plan year {self.year}"))
        if t.baseline_year is not None and t.baseline_year >= self.year:
            problems.append((where("baseline_year"), f"must be before the plan year {self.year}"))
        if t.due is not None and not period.contains(t.due, self.cutoff_day):
            start, end = period.window(self.cutoff_day)
            problems.append((where("due"), f"{t.due} is outside the window of {t.period} ({start}..{end})"))
        if t.denominator == t.indicator:
            problems.append((where("denominator"), "a ratio cannot be its own denominator"))
        if (
            t.agency in self._agency_spans
            and period.year == self.year
            and not self.agency_reports(t.agency, period)
        ):
            opens, closes = self._agency_spans[t.agency]
            span = " ".join(x for x in (opens and f"from {opens}", closes and f"to {closes}") if x)
            message = f"{t.agency} is in force only {span}: it makes no report for {t.period}"
            problems.append((where("period"), message))
        key = (t.agency, t.indicator, t.period)
        if key in self._targets:
            problems.append((where("")[:-1], f"a second target for {t.agency} / {t.indicator} / {t.period}"))
        self._targets.setdefault(key, t)
        # A target nobody reports on could never be assessed, nor its report be found missing.
        rule = self._rules.get(t.agency)
        if rule is None:
            if t.agency in self._agencies:
                problems.append((where("agency"), f"{t.agency} has a target but no reporting rule"))
            return
        for field in ("indicator", "denominator"):
            code = getattr(t, field)
            if code in self._indicators and code not in rule.indicators:
                problems.append((where(field), f"{code} is not in {t.agency}'s reporting rule"))
        reported = periods_of_year(self.year, rule.period_kind)
        if period.year == self.year and not any(period.covers(p) for p in reported):
            message = f"{t.period} is finer than {t.agency}'s {rule.frequency} reporting"
            problems.append((where("period"), message))

    @staticmethod
    def _index(section: str, items: list[Any], problems: list[tuple[Loc, str]]) -> dict[str, Any]:
        table: dict[str, Any] = {}
        for i, item in enumerate(items):
            if item.code in table:
                problems.append(((section, i, "code"), f"duplicate code {item.code!r}"))
            table.setdefault(item.code, item)
        return table

    # -- lookups ------------------------------------------------------------------------------

    @property
    def index(self) -> PlanIndex:
        """The plan's rules for events, built once (`shared.plan.index`)."""
        if self._plan_index is None:
            from shared.plan.index import PlanIndex  # the index reads the model

            self._plan_index = PlanIndex(self)
        return self._plan_index

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_day(self, moment: datetime) -> date:
        """The calendar day a moment falls on in the plan's zone."""
        return moment.astimezone(self.tz).date()

    def agency(self, code: str) -> Agency:
        return self._agencies[code]

    def indicator(self, code: str) -> Indicator:
        return self._indicators[code]

    def unit(self, code: str) -> Unit:
        return self._units[code]

    def activity_type(self, code: str) -> ActivityType:
        return self._activity_types[code]

    def steering_committee(self) -> Agency:
        assert self._committee is not None  # set by validation
        return self._committee

    def indicators_for(self, agency_code: str) -> set[str]:
        """What the agency reports on: its targets' indicators (and denominators) and its rule's."""
        return set(self._reported.get(agency_code, ()))

    def targets_for(self, agency: str | None = None, period: str | Period | None = None) -> list[Target]:
        wanted = None if period is None else str(Period.parse(str(period)))
        return [t for t in self.targets if agency in (None, t.agency) and wanted in (None, t.period)]

    def target_rule(self, rule_id: str) -> TargetRule | None:
        return next((r for r in self.target_rules if r.id == rule_id), None)

    def replaced_by_rows(self, rule_id: str) -> list[tuple[Target, int]]:
        """The targets the rule would make that explicit rows replace: (its target, the row's index)."""
        return list(self._replaced.get(rule_id, ()))

    def target(self, agency: str, indicator: str, period: str | Period) -> Target | None:
        return self._targets.get((agency, indicator, str(Period.parse(str(period)))))

    def targets_on(self, day: date, agency: str | None = None) -> list[Target]:
        """The targets in force on a day: the amended ones from their amendment's day on."""
        if not self.amendments:
            return self.targets_for(agency=agency)
        return [
            found
            for t in self.targets_for(agency=agency)
            if (found := self._versions.on((t.agency, t.indicator, t.period), day)) is not None
        ]

    def target_on(self, day: date, agency: str, indicator: str, period: str) -> Target | None:
        """One target as in force on a day."""
        return self._versions.on((agency, indicator, str(Period.parse(period))), day)

    def amendment(self, amendment_id: str) -> Amendment | None:
        return next((a for a in self.amendments if a.id == amendment_id), None)

    def target_versions(self, agency: str, indicator: str, period: str) -> list[tuple[date | None, Target]]:
        """A target's versions, oldest first: (the day it took effect, None for the plan's own; it)."""
        return list(self._versions.versions.get((agency, indicator, str(Period.parse(period))), ()))

    def successors_on(self, unit_code: str, day: date) -> list[str]:
        """The units in force on `day` that took over the unit's territory (itself if in force)."""
        unit = self._units[unit_code]
        if unit.active_on(day) or not unit.successors:
            return [unit_code] if unit.active_on(day) else []
        found: list[str] = []
        for code in unit.successors:
            found += [c for c in self.successors_on(code, day) if c not in found]
        return found

    def unit_ancestors(self, unit_code: str) -> list[str]:
        """Parent first, up to the top of the hierarchy."""
        return list(self._ancestors[unit_code])

    def unit_descendants(self, unit_code: str) -> set[str]:
        self._units[unit_code]  # an unknown unit is a KeyError, not an empty set
        return set(self._descendants.get(unit_code, ()))

    def is_own_unit(self, agency_code: str, unit_code: str) -> bool:
        """The agency's own unit or one below it (an agency reports only for its territory)."""
        home = self._agencies[agency_code].unit
        return unit_code == home or home in self._ancestors.get(unit_code, ())

    def reporting_rule(self, agency_code: str) -> ReportingRule | None:
        return self._rules.get(agency_code)

    def deadline(self, agency_code: str, period: Period) -> datetime:
        """End of the submission day in the plan's zone: window end + the rule's days."""
        rule = self._rules.get(agency_code)
        if rule is None:
            raise LookupError(f"{agency_code} has no reporting rule, hence no deadline")
        day = period.window(self.cutoff_day)[1] + timedelta(days=rule.submission_days_after_cutoff)
        return datetime.combine(day, time.max, tzinfo=self.tz)

    def reporting_periods(self, agency_code: str) -> list[Period]:
        """The periods the agency reports: its rule's, while it is in force (`agency_reports`)."""
        rule = self._rules.get(agency_code)
        if rule is None:
            return []
        return [
            p for p in periods_of_year(self.year, rule.period_kind) if self.agency_reports(agency_code, p)
        ]

    def agency_span(self, code: str) -> tuple[date | None, date | None]:
        """The first and last day the agency is in force (None: open)."""
        return self._agency_spans[code]

    def agency_in_force_on(self, code: str, day: date) -> bool:
        start, end = self._agency_spans[code]
        return (start is None or start <= day) and (end is None or day <= end)

    def agency_reports(self, code: str, period: Period) -> bool:
        """The agency makes the period's report: the period's window ends while it is in force. A
        period straddling a reform belongs to whoever holds the work at its cut-off, so each
        period has one reporting agency, and nothing counts twice or falls between the two."""
        return self.agency_in_force_on(code, period.window(self.cutoff_day)[1])

    def agency_successors_on(self, code: str, day: date) -> list[str]:
        """The agencies in force on `day` that hold the agency's work (itself if in force)."""
        if self.agency_in_force_on(code, day):
            return [code]
        found: list[str] = []
        for heir in self._successors.get(code, ()):
            found += [c for c in self.agency_successors_on(heir, day) if c not in found]
        return found

    def escalation_chain(self, agency_code: str) -> list[Agency]:
        """Parent agency, its parent, ..., ending with the steering committee (empty for it)."""
        committee, cur = self.steering_committee(), self._agencies[agency_code]
        chain: list[Agency] = []
        while cur.code != committee.code and cur.parent is not None:
            cur = self._agencies[cur.parent]
            chain.append(cur)
        if cur.code != committee.code:  # a root agency still answers to the committee
            chain.append(committee)
        return chain if agency_code != committee.code else []


def _names_of(entry: Agency | Unit) -> tuple[str, str]:
    return (entry.name, entry.name) if isinstance(entry, Unit) else (entry.name_vi, entry.name_en)


def _change_loc(here: Loc) -> Callable[[str], Loc]:
    return lambda field: (*here, field)


def _row_loc(i: int) -> Callable[[str], Loc]:
    return lambda field: ("targets", i, field)


def _grouped(problems: list[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    """A rule's targets' problems, one per place in the rule: twelve months finer than a quarterly
    reporting rule are one mistake, reported with how many targets it touches."""
    seen: dict[Loc, list[str]] = {}
    for loc, message in problems:
        messages = seen.setdefault(loc, [])
        if message not in messages:
            messages.append(message)
    return [
        (loc, m[0] + (f" (and {len(m) - 1} more of the rule's targets)" if len(m) > 1 else ""))
        for loc, m in seen.items()
    ]
