"""Target rules: one target for every agency of a kind, with per-agency exceptions.

    target_rules:
      - id: commune-propaganda
        applies_to: commune_committee          # an agency kind, or a list of kinds
        within: HUONG-HOA                      # optional: only agencies of this unit or below it
        indicator: propaganda_sessions
        every: month                           # every month of the plan year; or `period: 2024`
        kind: absolute
        value: 1
        per_agency: {UBND-LAO-BAO: {value: 2}} # an agency (or its unit) with figures of its own
        exclude: [UBND-KRONG-KLANG]            # agencies (or units) the rule skips

`Plan` (model.py) expands each rule into the same flat `Target` rows an explicit `targets:` entry
makes, each naming its rule (`Target.rule`), so nothing that reads targets knows about rules.
Precedence: an explicit row for the same agency × indicator × period replaces the rule's target;
within a rule, `per_agency` fields replace the rule's; two rules making the same target are an
error (neither silently wins). The rule's target fields are checked as the targets they make, and
every problem points at the rule (or its `per_agency` entry), never at a row that is not in the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from shared.plan.entries import Agency, Code, Frozen, Loc, Target, Unit, unknown_ref
from shared.plan.periods import Period, periods_of_year
from shared.plan.rollups import unit_within

# the Target fields a rule passes on (and a `per_agency` entry may replace); the rest it sets itself
_PER_AGENCY_FIELDS = (
    "value",
    "baseline_year",
    "baseline_value",
    "factor",
    "denominator",
    "due",
    "floor",
    "pace",
    "profile",
    "sample",
)


class TargetFields(Frozen):
    """A rule's figures for one agency. Typed loosely: each is checked as the Target it makes."""

    value: Any = None
    baseline_year: Any = None
    baseline_value: Any = None
    factor: Any = None
    denominator: Any = None
    due: Any = None
    floor: Any = None
    pace: Any = None
    profile: Any = None
    sample: Any = None

    def given(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _PER_AGENCY_FIELDS if f in self.model_fields_set}


class TargetRule(TargetFields):
    id: Code
    applies_to: list[Code] = Field(min_length=1)  # agency kinds
    within: str | None = None  # a unit
    indicator: str
    kind: str
    period: Any = None
    every: Literal["month", "quarter", "half", "year"] | None = None
    per_agency: dict[str, TargetFields] = {}
    exclude: list[str] = []
    note: str | None = None  # where the rule comes from (the plan's text, the brief, a sample)

    @field_validator("applies_to", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


@dataclass(frozen=True)
class Expansion:
    """A target a rule makes, and where in the rule each of its fields was given."""

    target: Target
    rule_index: int
    key: str | None  # the rule's `per_agency` key that gave some of its fields
    own: frozenset[str]  # the fields that key gave
    every: bool

    def loc(self, field: str) -> Loc:
        return _rule_loc(self.rule_index, self.key, self.own, self.every, field)


def _rule_loc(i: int, key: str | None, own: frozenset[str], every: bool, field: str) -> Loc:
    """Where a field of a rule's target is given: its `per_agency` entry, or the rule."""
    if field in own and key is not None:
        return ("target_rules", i, "per_agency", key, field)
    if field == "agency":
        return ("target_rules", i, "applies_to")
    if field == "period":
        return ("target_rules", i, "every" if every else "period")
    return ("target_rules", i, field)


def expand_rules(
    rules: list[TargetRule],
    agencies: list[Agency],
    units: dict[str, Unit],
    indicators: dict[str, Any],
    kinds: dict[str, Any],
    year: int,
    reports: Callable[[str, Period], bool] = lambda agency, period: True,
) -> tuple[list[Expansion], list[tuple[Loc, str]]]:
    """Every rule's targets in rule order (agencies in plan order, periods in time order), and
    every problem of the rules. Of two rules making one target, the first keeps it. An agency gets
    targets only for the periods it `reports` (those whose window ends while it is in force)."""
    problems: list[tuple[Loc, str]] = []
    made: dict[tuple[str, str, str], Expansion] = {}
    conflicts: dict[tuple[int, int], list[str]] = {}
    seen_ids: set[str] = set()
    for i, rule in enumerate(rules):
        loc: Loc = ("target_rules", i)
        if rule.id in seen_ids:
            problems.append(((*loc, "id"), f"duplicate rule id {rule.id!r}"))
        seen_ids.add(rule.id)
        expansions = _expand_one(i, rule, agencies, units, indicators, kinds, year, reports, problems.append)
        for e in expansions:
            t = e.target
            first = made.setdefault((t.agency, t.indicator, t.period), e)
            if first is not e:
                conflicts.setdefault((i, first.rule_index), []).append(
                    f"{t.agency} / {t.indicator} / {t.period}"
                )
    for (i, j), keys in conflicts.items():
        more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
        message = (
            f"conflicts with rule {rules[j].id!r}: both make {keys[0]}{more}; "
            "exclude the agency from one of them, or write an explicit target"
        )
        problems.append((("target_rules", i, "applies_to"), message))
    return list(made.values()), problems


def _expand_one(
    i: int,
    rule: TargetRule,
    agencies: list[Agency],
    units: dict[str, Unit],
    indicators: dict[str, Any],
    kinds: dict[str, Any],
    year: int,
    reports: Callable[[str, Period], bool],
    problem: Callable[[tuple[Loc, str]], None],
) -> list[Expansion]:
    loc: Loc = ("target_rules", i)
    ok = True
    for j, kind in enumerate(rule.applies_to):
        if kind not in kinds:
            problem(((*loc, "applies_to", j), unknown_ref("agency kind", kind, kinds)))
            ok = False
    if rule.within is not None and rule.within not in units:
        problem(((*loc, "within"), unknown_ref("unit", rule.within, units)))
        ok = False
    for field in ("indicator", "denominator"):
        code = getattr(rule, field)
        if code is not None and code not in indicators:
            problem(((*loc, field), unknown_ref("indicator", code, indicators)))
    for key, fields in rule.per_agency.items():
        code = fields.denominator
        if code is not None and code not in indicators:
            problem(((*loc, "per_agency", key, "denominator"), unknown_ref("indicator", code, indicators)))
    if (rule.period is None) == (rule.every is None):
        problem(
            (loc, "give either `period` (one period) or `every` (every month, quarter, half of the year)")
        )
        ok = False
    if not ok:
        return []

    covered = [
        a
        for a in agencies
        if a.kind in rule.applies_to and (rule.within is None or unit_within(a.unit, rule.within, units))
    ]
    scope = f"agencies of kind {', '.join(rule.applies_to)}" + (
        f" within {rule.within}" if rule.within else ""
    )
    known = {a.code for a in agencies} | set(units)

    def resolve(key: str, where: Loc) -> list[Agency]:
        matched = [a for a in covered if a.code == key] or [a for a in covered if a.unit == key]
        if not matched:
            if key not in known:
                problem((where, unknown_ref("agency or unit", key, known)))
            else:
                problem((where, f"the rule does not cover {key}: it applies to {scope}"))
        return matched

    excluded = {a.code for j, key in enumerate(rule.exclude) for a in resolve(key, (*loc, "exclude", j))}
    own: dict[str, tuple[str | None, TargetFields]] = {}
    for key, fields in rule.per_agency.items():
        for a in resolve(key, (*loc, "per_agency", key)):
            if a.code in excluded:
                problem(((*loc, "per_agency", key), f"{a.code} is also excluded from the rule"))
            elif a.code in own:
                problem(((*loc, "per_agency", key), f"{a.code} already has figures under {own[a.code][0]}"))
            else:
                own[a.code] = (key, fields)
    chosen = [a for a in covered if a.code not in excluded]
    if not chosen:
        why = "every one is excluded" if covered else "there is none"
        problem(((*loc, "applies_to"), f"the rule makes no target: it applies to {scope}, and {why}"))
        return []

    periods = [str(p) for p in periods_of_year(year, rule.every)] if rule.every else [rule.period]
    common = {"indicator": rule.indicator, "kind": rule.kind, "rule": rule.id, **rule.given()}
    expansions: list[Expansion] = []
    for agency in chosen:
        own_key, own_fields = own.get(agency.code, (None, TargetFields()))
        given = own_fields.given()
        for period in periods:
            if not _reports(reports, agency.code, period):
                continue
            try:
                target = Target.model_validate({**common, **given, "agency": agency.code, "period": period})
            except ValidationError as exc:
                for err in exc.errors():
                    field = str(err["loc"][0]) if err["loc"] else ""
                    message = err["msg"].removeprefix("Value error, ")
                    if err["type"] == "missing":
                        message = (
                            f"{field} is required for {agency.code}: give it on the rule or under per_agency"
                        )
                        problem(((*loc, field) if field else loc, message))
                    else:
                        where = _rule_loc(i, own_key, frozenset(given), rule.every is not None, field)
                        problem(((*where, *err["loc"][1:]) if field else loc, message))
                continue
            expansions.append(Expansion(target, i, own_key, frozenset(given), rule.every is not None))
    return expansions


def _reports(reports: Callable[[str, Period], bool], agency: str, period: Any) -> bool:
    try:
        return reports(agency, Period.parse(str(period)))
    except ValueError:  # a malformed period is the target's own error, worded where it is checked
        return True
