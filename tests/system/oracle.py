"""The oracle of the fault suite: what the projections must say, recomputed from what intake accepted.

Pure Python and independent of the aggregator's code (it is the check): it reads only the
plan (shared) and the events the client saw answered `accepted`/`duplicate`, and applies the
rules the event contract states (docs/events.md):

- `indicator.reported` is cumulative: per (agency, indicator, period) the latest by event
  `time` wins (then arrival; the workloads give every event of an agency a distinct time, so
  arrival never decides);
- `indicator.corrected` replaces the value of the event it names, whatever order they arrive in
  (the latest correction by time wins);
- `activity.recorded` adds 1 (count) or its participants to each indicator the plan's activity
  type counts into, for every target period whose window holds the activity's date.

A figure with nothing behind it is 0. The workloads report figures only for the exact period of
a target, so no roll-up from sub-periods is involved.

Also here: the workload generators (realistic shapes: cumulative figures, activities,
corrections, duplicates, out-of-order and malformed events).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from shared.plan.periods import Period

REPORTED = "vn.gov.pcmt.indicator.reported.v1"
CORRECTED = "vn.gov.pcmt.indicator.corrected.v1"
ACTIVITY = "vn.gov.pcmt.activity.recorded.v1"
SUBMITTED = "vn.gov.pcmt.report.submitted.v1"

# Agencies with a yearly figure target (reported cumulative values) and the indicator.
FIGURE_AGENCIES = {
    "CA-TINH": "drug_cases_detected",
    "CA-DONG-HA": "drug_cases_detected",
    "CA-HUONG-HOA": "drug_cases_detected",
    "CA-DAKRONG": "drug_cases_detected",
    "HQ": "drug_cases_detected",
    "SYT": "inspections_conducted",
    "SLDTBXH": "people_in_rehab",
}
# Agencies whose propaganda sessions are counted from activity events (double counting shows).
ACTIVITY_AGENCIES = ["BDBP", "STTTT", "LDLD", "SGDDT", "SVHTTDL", "TINH-DOAN"]


# --------------------------------------------------------------------------------------------
# What the client saw


@dataclass
class Sent:
    """One event as the client script sent it, and what intake finally answered."""

    event: dict
    agency: str
    status: str = "pending"  # accepted | duplicate | rejected | refused (401/403) | lost (gave up)
    attempts: int = 0
    retried: int = 0  # answers 503/429/connection errors that made the client send it again
    accepted_at: float | None = None  # time.monotonic() of the 202 / duplicate answer
    scheduled_at: float | None = None
    http: list[int] = field(default_factory=list)
    detail: str = ""


class EventLog:
    """Every send of the scenario (thread-safe enough: appends only)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def add(self, sent: Sent) -> Sent:
        self.sent.append(sent)
        return sent

    def accepted(self) -> list[dict]:
        """Distinct events (by (source, id)) intake answered 202 or duplicate for, first send first."""
        seen: dict[tuple[str, str], dict] = {}
        for s in self.sent:
            if s.status in ("accepted", "duplicate"):
                seen.setdefault((s.event["source"], s.event["id"]), s.event)
        return list(seen.values())

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.sent)

    @property
    def retries(self) -> int:
        return sum(s.retried for s in self.sent)

    def codes(self, code: int) -> int:
        return sum(c == code for s in self.sent for c in s.http)


# --------------------------------------------------------------------------------------------
# The oracle


def _agency(event: dict) -> str:
    return event["source"].rsplit("/", 1)[-1]


def expected_actuals(plan: Any, accepted: Iterable[dict]) -> dict[tuple[str, str, str], float]:
    """(agency, indicator, period) → expected `actual`, for every target of every agency that
    appears in `accepted` (0 where nothing counts)."""
    events = list(accepted)
    agencies = {_agency(e) for e in events}
    winners: dict[tuple[str, str, str], dict] = {}
    corrections: dict[tuple[str, str], dict] = {}
    counted: dict[tuple[str, str, str], float] = {}
    targets = [t for a in sorted(agencies) for t in plan.targets_for(agency=a)]
    windows = {t.period: Period.parse(t.period).window(plan.cutoff_day) for t in targets}
    for e in events:
        agency, d, when = _agency(e), e["data"], datetime.fromisoformat(e["time"])
        if e["type"] == REPORTED and d.get("unit_code") is None:
            key = (agency, d["indicator"], d["period"])
            best = winners.get(key)
            if best is None or when > datetime.fromisoformat(best["time"]):
                winners[key] = e
        elif e["type"] == CORRECTED:
            key = (e["source"], d["corrects"])
            best = corrections.get(key)
            if best is None or when > datetime.fromisoformat(best["time"]):
                corrections[key] = e
        elif e["type"] == ACTIVITY:
            day = date.fromisoformat(d["date"])
            for count in plan.activity_type(d["activity"]).counts_into:
                amount = 1.0 if count.measure == "count" else float(d.get("participants", 0))
                for t in targets:
                    start, end = windows[t.period]
                    if t.agency == agency and t.indicator == count.indicator and start <= day <= end:
                        key = (agency, t.indicator, t.period)
                        counted[key] = counted.get(key, 0.0) + amount
    out: dict[tuple[str, str, str], float] = {}
    for t in targets:
        key = (t.agency, t.indicator, t.period)
        value = 0.0
        winner = winners.get(key)
        if winner is not None:
            correction = corrections.get((winner["source"], winner["id"]))
            value = float(correction["data"]["value"] if correction else winner["data"]["value"])
        out[key] = value + counted.get(key, 0.0)
    return out


def compare(expected: dict[tuple[str, str, str], float], kpis: list[dict]) -> list[str]:
    """Differences between the oracle and `/v1/kpis` items (empty list: converged)."""
    actual = {(k["agency"], k["indicator"], k["period"]): k["actual"] for k in kpis}
    problems = []
    for key, value in sorted(expected.items()):
        got = actual.get(key)
        if got is None and value == 0:
            continue
        if got is None or abs(got - value) > 1e-6:
            problems.append(f"{'/'.join(key)}: expected {value:g}, projection says {got}")
    return problems


def expected_lagging(kpis: list[dict]) -> set[tuple[str, str, str]]:
    """The alert set the notifier must hold: a firing `lagging` alert per lagging KPI."""
    return {(k["agency"], k["indicator"], k["period"]) for k in kpis if k["status"] == "lagging"}


# --------------------------------------------------------------------------------------------
# Workloads


class Workload:
    """Realistic agency traffic with a distinct event time per event of an agency."""

    def __init__(
        self,
        plan: Any,
        seed: int = 7,
        tag: str | None = None,
        start: datetime = datetime.fromisoformat("2024-02-01T08:00:00+07:00"),
    ) -> None:
        self.plan, self.rng = plan, random.Random(seed)
        self.tag = tag or uuid.uuid4().hex[:6]
        self.n = 0
        self.start = start
        self._clock: dict[str, int] = {}
        self._reported: dict[str, list[dict]] = {}
        self._value: dict[str, float] = {}

    def _time(self, agency: str) -> str:
        # 10 distinct minutes per event, from Feb 1st: 20 000 events per agency stay before June
        tick = self._clock.get(agency, 0) + 1
        self._clock[agency] = tick
        return (self.start + timedelta(minutes=10 * tick, seconds=self.rng.randrange(60))).isoformat()

    def _id(self, agency: str, kind: str) -> str:
        self.n += 1
        return f"{self.tag}-{agency.lower()}-{kind}-{self.n}"

    def reported(self, agency: str, indicator: str | None = None, value: float | None = None) -> dict:
        indicator = indicator or FIGURE_AGENCIES[agency]
        if value is None:  # cumulative: mostly up, sometimes a lower (restated) figure
            value = max(0.0, self._value.get(agency, 0.0) + self.rng.choice([1, 2, 3, 5, -1]))
            if value > self.plan.indicator(indicator).max_value * 0.9:  # long runs stay under the cap
                value = float(self.rng.randrange(0, 20))
            self._value[agency] = value
        event = {
            "specversion": "1.0",
            "id": self._id(agency, "fig"),
            "source": f"/agencies/{agency}",
            "type": REPORTED,
            "time": self._time(agency),
            "data": {"indicator": indicator, "period": "2024", "value": value},
        }
        self._reported.setdefault(agency, []).append(event)
        return event

    def corrected(self, agency: str) -> dict | None:
        earlier = self._reported.get(agency)
        if not earlier:
            return None
        target = self.rng.choice(earlier)
        return {
            "specversion": "1.0",
            "id": self._id(agency, "fix"),
            "source": f"/agencies/{agency}",
            "type": CORRECTED,
            "time": self._time(agency),
            "data": {
                "corrects": target["id"],
                "value": float(self.rng.randrange(0, 60)),
                "reason": "số liệu rà soát lại",
            },
        }

    def activity(self, agency: str) -> dict:
        at = self._time(agency)
        return {
            "specversion": "1.0",
            "id": self._id(agency, "act"),
            "source": f"/agencies/{agency}",
            "type": ACTIVITY,
            "time": at,
            "data": {
                "activity": "propaganda_session",
                "date": at[:10],
                "participants": self.rng.randrange(10, 200),
                "target_groups": ["học sinh"],
                "channel": "trực tiếp",
            },
        }

    def mixed(self, agency: str) -> dict:
        """The next event an agency would plausibly send."""
        if agency in ACTIVITY_AGENCIES:
            return self.activity(agency)
        if self.rng.random() < 0.15:
            fix = self.corrected(agency)
            if fix is not None:
                return fix
        return self.reported(agency)

    def stream(self, agencies: list[str], per_agency: int) -> dict[str, list[dict]]:
        return {a: [self.mixed(a) for _ in range(per_agency)] for a in agencies}


def malformed(agency: str, rng: random.Random, tag: str) -> dict | str:
    """A bad event intake must refuse (schema, plan rules or JSON itself)."""
    base = {
        "specversion": "1.0",
        "id": f"{tag}-bad-{rng.randrange(10**9)}",
        "source": f"/agencies/{agency}",
        "type": REPORTED,
        "time": "2024-05-01T08:00:00+07:00",
        "data": {
            "indicator": FIGURE_AGENCIES.get(agency, "propaganda_sessions"),
            "period": "2024",
            "value": 3,
        },
    }
    kind = rng.randrange(7)
    if kind == 0:
        base["data"]["value"] = -5
    elif kind == 1:
        base["data"]["value"] = 10**9  # above the plan's cap
    elif kind == 2:
        base["data"]["indicator"] = "no_such_indicator"
    elif kind == 3:
        base["time"] = "2024-05-01T08:00:00"  # no UTC offset
    elif kind == 4:
        base["data"]["period"] = "2023"  # outside the plan year
    elif kind == 5:
        del base["specversion"]
    else:
        base["type"] = "vn.gov.pcmt.unknown.v1"
    return base
