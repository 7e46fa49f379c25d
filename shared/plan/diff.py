"""What changes from one plan to another: `tiendo plan diff OLD NEW`.

A secretariat amends a plan by editing a copy of its file; before the services read it, it should
see exactly what the amendment changes in the terms the services use. Targets are compared as the
services see them, after the target rules are expanded, so a rule's edited figure shows as the
targets it changes (each naming its rule), and a target moved from a row to a rule with the same
figure is no change at all. Everything else is compared by its code (units, agencies, indicators,
activity types, agency kinds, target rules, roll-ups by agency, reporting rules by agency), then
the plan's own settings; within an entry, field by field. An amendment added (or changed) is
shown with every target it changes, before and after, from the day it takes effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from shared.plan.entries import Target
from shared.plan.model import Plan

ChangeKind = Literal["added", "removed", "changed"]

#: the plan's own settings, compared one by one (its lists are compared entry by entry below)
_SETTINGS = ("code", "title", "year", "timezone", "cutoff_day", "sample_data_note", "thresholds",
             "commune_assessment_indicator")  # fmt: skip
#: what a target's identity is made of; `rule` says where it comes from, not what it asks
_TARGET_KEY, _TARGET_SOURCE = ("agency", "indicator", "period"), ("rule",)


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    section: str  # the plan file's section: "targets", "agencies", ... or "plan" for its settings
    key: tuple[str, ...]  # the entry's code, e.g. ("CA-TINH",); a target's agency, indicator, period
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (field, old, new) of a changed entry

    @property
    def name(self) -> str:
        return " × ".join(self.key)


def shown(value: Any) -> str:
    """A field's value as a diff line shows it (— for none)."""
    return "—" if value is None else str(value)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _fields(old: dict[str, Any], new: dict[str, Any], ignore: Iterable[str] = ()) -> tuple:
    skip = set(ignore)
    names = [n for n in dict.fromkeys([*old, *new]) if n not in skip]
    return tuple((n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n))


def _compare(
    section: str,
    old: Iterable[Any],
    new: Iterable[Any],
    key: Callable[[Any], tuple[str, ...]],
    ignore: Iterable[str] = (),
) -> list[Change]:
    before = {key(e): _plain(e) for e in old}
    after = {key(e): _plain(e) for e in new}
    changes = [Change("removed", section, k) for k in before if k not in after]
    changes += [Change("added", section, k) for k in after if k not in before]
    for k in before.keys() & after.keys():
        if fields := _fields(before[k], after[k], ignore):
            changes.append(Change("changed", section, k, fields))
    order = {k: i for i, k in enumerate([*before, *(k for k in after if k not in before)])}
    return sorted(changes, key=lambda c: order[c.key])


def _target_key(t: Any) -> tuple[str, ...]:
    return tuple(str(getattr(t, f)) for f in _TARGET_KEY)


def diff(old: Plan, new: Plan) -> list[Change]:
    """Every change from `old` to `new`, section by section in the plan file's order."""
    settings = _fields(
        {n: _plain(getattr(old, n)) for n in _SETTINGS}, {n: _plain(getattr(new, n)) for n in _SETTINGS}
    )
    changes = [Change("changed", "plan", (name,), ((name, a, b),)) for name, a, b in settings]
    by_code: Callable[[Any], tuple[str, ...]] = lambda e: (e.code,)  # noqa: E731 (the common key)
    by_agency: Callable[[Any], tuple[str, ...]] = lambda e: (e.agency,)  # noqa: E731
    changes += _compare("units", old.units, new.units, by_code)
    changes += _compare("agency_kinds", old.agency_kinds, new.agency_kinds, by_code)
    changes += _compare("agencies", old.agencies, new.agencies, by_code)
    changes += _compare("indicators", old.indicators, new.indicators, by_code)
    changes += _compare("activity_types", old.activity_types, new.activity_types, by_code)
    changes += _compare("reporting", old.reporting, new.reporting, by_agency)
    changes += _compare("rollups", old.rollups, new.rollups, by_agency)
    changes += _compare("target_rules", old.target_rules, new.target_rules, lambda r: (r.id,))
    changes += _compare("targets", old.targets, new.targets, _target_key, ignore=_TARGET_SOURCE)
    changes += _compare("amendments", old.amendments, new.amendments, lambda a: (a.id,))
    return changes


def amended_targets(plan: Plan, amendment_id: str) -> list[tuple[Target | None, Target]]:
    """What an amendment changes: (the target before it, None for one it adds; the target it
    sets), in plan order."""
    out: list[tuple[Target | None, Target]] = []
    for t in plan.targets:
        versions = plan.target_versions(t.agency, t.indicator, t.period)
        out += [
            (versions[i - 1][1] if i else None, v)
            for i, (_, v) in enumerate(versions)
            if v.amendment == amendment_id
        ]
    return out
