"""Realistic agency events for tests, the benchmark and demos (deterministic for a seed).

Monthly cumulative reports of the indicators each agency reports by its rule, activities with
participants in units of the agency, report submissions, a few corrections. Times are unique
and increasing so a stream has one meaning whatever order it is delivered in.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from shared.events.models import agency_event_adapter
from shared.plan.model import Plan

VN = timezone(timedelta(hours=7))
START = datetime(2024, 1, 1, 8, tzinfo=VN)
ACTIVITY_OF = {
    "propaganda_sessions": "propaganda_session",
    "propaganda_participants": "propaganda_session",
    "inspections_conducted": "inspection",
    "action_month_activities": "action_month_event",
}


def sample_documents(plan: Plan, n: int, seed: int = 7) -> Iterator[dict]:
    """`n` structured CloudEvents (dicts), valid against the plan."""
    rnd = random.Random(seed)
    rules = list(plan.reporting)
    span = (datetime(2024, 12, 14, tzinfo=VN) - START).total_seconds()
    reported_ids: list[tuple[str, str]] = []
    for i in range(n):
        rule = rnd.choice(rules)
        agency = rule.agency
        at = START + timedelta(seconds=span * i / max(n, 1))
        month = min(12, at.month + (1 if at.day > plan.cutoff_day else 0))
        period = f"2024-{month:02d}"
        units = [plan.agency(agency).unit, *sorted(plan.unit_descendants(plan.agency(agency).unit))]
        roll = rnd.random()
        if roll < 0.6:
            indicator = rnd.choice(rule.indicators)
            cap = plan.indicator(indicator).max_value
            data: dict = {
                "indicator": indicator,
                "period": period,
                "value": float(rnd.randint(0, int(min(cap, 50)))),
            }
            if rnd.random() < 0.3:
                data["unit_code"] = rnd.choice(units)
            kind = "indicator.reported"
        elif roll < 0.65 and reported_ids:
            agency, target = rnd.choice(reported_ids[-200:])
            data = {"corrects": target, "value": float(rnd.randint(0, 40)), "reason": "số liệu rà soát lại"}
            kind = "indicator.corrected"
        elif roll < 0.95:
            activity = ACTIVITY_OF.get(rnd.choice(rule.indicators), "propaganda_session")
            data = {
                "activity": activity,
                "date": at.date().isoformat(),
                "participants": rnd.randint(0, 400),
                "unit_code": rnd.choice(units),
                "target_groups": ["học sinh"],
            }
            kind = "activity.recorded"
        else:
            data = {"period": period}
            kind = "report.submitted"
        event_id = f"s{seed}-{i}"
        if kind == "indicator.reported":
            reported_ids.append((agency, event_id))
        yield {
            "specversion": "1.0",
            "id": event_id,
            "source": f"/agencies/{agency}",
            "type": f"vn.gov.pcmt.{kind}.v1",
            "time": at.isoformat(),
            "data": data,
        }


def sample_events(plan: Plan, n: int, seed: int = 7) -> list:
    return [agency_event_adapter.validate_python(d) for d in sample_documents(plan, n, seed)]
