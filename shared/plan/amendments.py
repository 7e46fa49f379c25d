"""Amendments: a plan's targets changed from a date on, not rewritten (docs/plan.md).

An amendment has its own id, the day it takes effect and its reason; each of its changes names one
target (agency × indicator × period) or a target rule (every target the rule made) and gives the
fields it sets. From that day the target is the amended one, and names the amendment; before it,
the target stands as it was, so a judgment made then is made again the same (`as_of`, a rebuild).
A change naming a target the plan lacks, with its `kind`, adds it: in force from that day only.
Agencies and units an amendment brings in are entries of the plan with `valid_from` that day
and `amendment: <id>` (`Plan` checks both). A rename gives an agency or a unit a new name from
that day, keeping its code, so its figures, targets and alerts go on unbroken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from shared.plan.entries import Code, Frozen, Loc, Target
from shared.plan.periods import Period
from shared.plan.rules import TargetFields

TargetKey = tuple[str, str, str]


class TargetChange(TargetFields):
    """One change: `rule:` (every target of that rule), or `agency`, `indicator` and `period`."""

    rule: str | None = None
    agency: str | None = None
    indicator: str | None = None
    period: Any = None
    kind: str | None = None  # only for a target the plan lacks: the change adds it

    @field_validator("period", mode="before")
    @classmethod
    def _canonical_period(cls, v: Any) -> Any:
        return str(Period.parse(v)) if isinstance(v, str | int) and not isinstance(v, bool) else v


class Rename(Frozen):
    """A new name from the amendment's day: `{agency, name_vi, name_en}` or `{unit, name}`."""

    agency: str | None = None
    unit: str | None = None
    name_vi: str | None = Field(default=None, min_length=1)
    name_en: str | None = Field(default=None, min_length=1)  # an agency's; kept as it was if not given
    name: str | None = Field(default=None, min_length=1)  # a unit's

    @model_validator(mode="after")
    def _one_entry(self) -> Rename:
        if (self.agency is None) == (self.unit is None):
            raise ValueError("a rename names an agency or a unit (one of them)")
        if self.agency is not None and (self.name_vi is None or self.name is not None):
            raise ValueError("an agency's rename gives its name_vi (and name_en), not name")
        if self.unit is not None and (self.name is None or self.name_vi or self.name_en):
            raise ValueError("a unit's rename gives its name, not name_vi or name_en")
        return self


class Amendment(Frozen):
    id: Code
    effective: date
    reason: str = Field(min_length=1)
    changes: list[TargetChange] = []
    renames: list[Rename] = []

    @model_validator(mode="after")
    def _changes_something(self) -> Amendment:
        if not self.changes and not self.renames:
            raise ValueError("an amendment changes targets (`changes`) or renames (`renames`)")
        return self


@dataclass(frozen=True)
class TargetVersions:
    """Each target's versions in force, oldest first: (from the day, the target); the plan's own
    target is in force from the start (`None`)."""

    versions: dict[TargetKey, list[tuple[date | None, Target]]]

    def on(self, key: TargetKey, day: date) -> Target | None:
        found = None
        for since, target in self.versions.get(key, ()):
            if since is None or since <= day:
                found = target
        return found


def amend(
    targets: list[Target], amendments: list[Amendment], rules: set[str], window: tuple[date, date]
) -> tuple[TargetVersions, list[tuple[Target, Loc]], list[tuple[Loc, str]]]:
    """Every target's versions under the amendments (in the order they take effect, then as
    listed), the targets they add (each with where its change is), and every problem located at
    its amendment, change and field."""
    problems: list[tuple[Loc, str]] = []
    added: list[tuple[Target, Loc]] = []
    versions: dict[TargetKey, list[tuple[date | None, Target]]] = {
        (t.agency, t.indicator, t.period): [(None, t)] for t in targets
    }
    ids: set[str] = set()
    for i, a in enumerate(amendments):
        if a.id in ids:
            problems.append((("amendments", i, "id"), f"a second amendment {a.id!r}"))
        ids.add(a.id)
    for i, a in sorted(enumerate(amendments), key=lambda p: (p[1].effective, p[0])):
        first, last = window
        if not first <= a.effective <= last:
            problems.append(
                (("amendments", i, "effective"), f"{a.effective} is outside the plan year ({first}..{last})")
            )
        for j, change in enumerate(a.changes):
            here: Loc = ("amendments", i, "changes", j)
            if change.kind is not None:
                new = _added(change, a, versions, here, problems)
                if new is not None:
                    versions[(new.agency, new.indicator, new.period)] = [(a.effective, new)]
                    added.append((new, here))
                continue
            keys = _targets_of(change, versions, rules, here, problems)
            fields = change.given()
            if not fields:
                problems.append((here, "a change sets no field of its target(s)"))
                continue
            for key in keys:
                current = versions[key][-1][1]
                try:
                    amended = Target.model_validate({**current.model_dump(), **fields, "amendment": a.id})
                except ValidationError as err:
                    for e in err.errors():
                        problems.append(((*here, *e["loc"]), f"{' × '.join(key)}: {e['msg']}"))
                    continue
                if current.amendment == a.id:  # a second change of the same amendment: one version
                    versions[key][-1] = (a.effective, amended)
                else:
                    versions[key].append((a.effective, amended))
    return TargetVersions(versions), added, list(dict.fromkeys(problems))


def _added(
    change: TargetChange,
    a: Amendment,
    versions: dict[TargetKey, Any],
    here: Loc,
    problems: list[tuple[Loc, str]],
) -> Target | None:
    """The target a change with a `kind` adds (None, with its problems, if it cannot)."""
    if change.rule is not None:
        problems.append(
            ((*here, "kind"), "a change adding a target names it by agency, indicator and period")
        )
        return None
    fields = {"agency": change.agency, "indicator": change.indicator, "period": change.period}
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        new = Target.model_validate({**fields, "kind": change.kind, **change.given(), "amendment": a.id})
    except ValidationError as err:
        for e in err.errors():
            problems.append(((*here, *e["loc"]), e["msg"].removeprefix("Value error, ")))
        return None
    if (new.agency, new.indicator, new.period) in versions:
        key = " × ".join((new.agency, new.indicator, new.period))
        problems.append(
            ((*here, "kind"), f"the plan already has a target {key}: change its fields, without `kind`")
        )
        return None
    return new


def _targets_of(
    change: TargetChange,
    versions: dict[TargetKey, Any],
    rules: set[str],
    here: Loc,
    problems: list[tuple[Loc, str]],
) -> list[TargetKey]:
    named = (change.agency, change.indicator, change.period)
    if change.rule is not None:
        if any(f is not None for f in named):
            problems.append(
                ((*here, "rule"), "a change names a rule or a target (agency, indicator, period), not both")
            )
            return []
        if change.rule not in rules:
            problems.append(((*here, "rule"), f"unknown target rule {change.rule!r}"))
            return []
        return [k for k, v in versions.items() if v[0][1].rule == change.rule]
    if any(f is None for f in named):
        missing = [n for n, f in zip(("agency", "indicator", "period"), named, strict=True) if f is None]
        problems.append(
            ((*here, missing[0]), "a change names a rule, or a target by agency, indicator and period")
        )
        return []
    key = (str(change.agency), str(change.indicator), str(change.period))
    if key not in versions:
        problems.append(
            (
                here,
                f"the plan has no target {' × '.join(key)}: give its `kind` (and figures) to add it",
            )
        )
        return []
    return [key]
