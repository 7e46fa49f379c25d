"""Roll-ups: where the plan says figures of several agencies add up into one area-wide figure.

    rollups:
      - {agency: CA-TINH, from: [CA-DONG-HA, CA-HUONG-HOA, CA-DAKRONG], indicators: [drug_cases_detected]}

The provincial police's province-wide figure for an indicator is its own figure plus the rolled
figures of the agencies listed in `from` (the district police), which may roll up agencies of
their own (commune committees into their district): a tree per indicator. The loader checks what
keeps a unit from being counted twice: every agency sits in at most one `from` per indicator,
never in its own, with no loop, and its unit lies within the rolled agency's unit.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.plan.entries import Frozen, Loc


class Rollup(Frozen):
    agency: str  # whose area-wide figure it is
    members: list[str] = Field(alias="from", min_length=1)  # agencies whose figures add into it
    indicators: list[str] = Field(min_length=1)


def rollup_problems(
    rollups: list[Rollup], agencies: dict[str, Any], indicators: dict[str, Any], units: dict[str, Any]
) -> list[tuple[Loc, str]]:
    """Every reason the plan's roll-ups could count an agency (hence a unit) twice, or name nothing."""
    problems: list[tuple[Loc, str]] = []
    parent_of: dict[tuple[str, str], str] = {}  # (member, indicator) -> the agency it rolls into
    declared: set[tuple[str, str]] = set()
    for i, r in enumerate(rollups):
        loc = ("rollups", i)
        if r.agency not in agencies:
            problems.append(((*loc, "agency"), f"unknown agency {r.agency!r}"))
        for j, code in enumerate(r.indicators):
            if code not in indicators:
                problems.append(((*loc, "indicators", j), f"unknown indicator {code!r}"))
            elif (r.agency, code) in declared:
                problems.append(((*loc, "indicators", j), f"{r.agency} already rolls up {code}"))
            declared.add((r.agency, code))
        for j, member in enumerate(r.members):
            where = (*loc, "from", j)
            if member not in agencies:
                problems.append((where, f"unknown agency {member!r}"))
                continue
            if member == r.agency:
                problems.append((where, f"{member} cannot roll up into itself"))
                continue
            if r.agency in agencies and not unit_within(
                agencies[member].unit, agencies[r.agency].unit, units
            ):
                problems.append(
                    (
                        where,
                        f"{member}'s unit {agencies[member].unit} is not within "
                        f"{r.agency}'s unit {agencies[r.agency].unit}",
                    )
                )
            for code in r.indicators:
                other = parent_of.setdefault((member, code), r.agency)
                if other != r.agency:
                    problems.append(
                        (
                            where,
                            f"{member} already rolls up into {other} for {code}: it would be counted twice",
                        )
                    )
                elif r.members.count(member) > 1 and r.members.index(member) != j:
                    problems.append((where, f"{member} is listed twice"))
    loops: set[tuple[str, str]] = set()
    for (member, code), into in parent_of.items():  # a loop would count its agencies again and again
        seen: set[str] = {member}
        cur: str | None = into
        while cur is not None:
            if cur in seen:
                loops.add((code, cur))
                break
            seen.add(cur)
            cur = parent_of.get((cur, code))
    problems += [(("rollups",), f"the roll-up of {code} loops back to {cur}") for code, cur in sorted(loops)]
    return problems


def unit_within(unit: str, area: str, units: dict[str, Any]) -> bool:
    seen: set[str] = set()
    cur: str | None = unit
    while cur is not None and cur not in seen:
        if cur == area:
            return True
        seen.add(cur)
        cur = getattr(units.get(cur), "parent", None)
    return False
