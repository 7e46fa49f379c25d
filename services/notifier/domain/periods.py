"""Reporting periods as the events spell them: "2024", "2024-H1", "2024-Q2", "2024-06".

Parsing and containment are the plan's `Period`; what is added here is the step back to the
previous period. The wording leaders read ("Quý II/2024") is `shared.labels.period_label`, the
one labelling function of the demo, the APIs and the emails: the notifier calls it directly.
"""

from __future__ import annotations

from shared.plan.periods import Period


def _parts(period: str) -> tuple[int, str, int]:
    parsed = Period.parse(period)
    return parsed.year, parsed.kind, parsed.index


def previous(period: str) -> str:
    """The period of the same kind just before (2024-01 → 2023-12)."""
    year, kind, n = _parts(period)
    count = {"year": 1, "half": 2, "quarter": 4, "month": 12}[kind]
    if kind == "year":
        return str(year - 1)
    if n > 1:
        return _format(year, kind, n - 1)
    return _format(year - 1, kind, count)


def _format(year: int, kind: str, n: int) -> str:
    return {"half": f"{year}-H{n}", "quarter": f"{year}-Q{n}", "month": f"{year}-{n:02d}"}[kind]


def contains(outer: str, inner: str) -> bool:
    """True if every month of `inner` lies within `outer` (2024 contains 2024-06)."""
    return Period.parse(outer).covers(Period.parse(inner))
