"""An in-memory notifier: the pure domain driven the way the service drives it, for unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.notifier.domain import alerts as rules
from services.notifier.domain import periods
from services.notifier.domain.digest import Digest, RecipientState, plan, select
from services.notifier.domain.directory import Directory
from services.notifier.domain.policy import DigestPolicy
from services.notifier.domain.silences import Silence
from shared.events import KpiStatus


class Memory:
    def __init__(self, directory: Directory, policy: DigestPolicy) -> None:
        self.directory, self.policy = directory, policy
        self.alerts: dict[str, rules.Alert] = {}
        self.kpi: dict[tuple, KpiStatus] = {}
        self.states: dict[str, RecipientState] = {}
        self.silences: list[Silence] = []
        self.sent: list[Digest] = []

    def event(self, event, now: datetime) -> None:
        d = event.data
        if hasattr(d, "indicator"):
            signals = rules.kpi_signals(d, self.kpi.get((d.agency, d.indicator, periods.previous(d.period))))
            self.kpi[(d.agency, d.indicator, d.period)] = d.status
        else:
            signals = rules.report_signals(d)
        changed = []  # as the service does: a missed alert takes over a lagging one just superseded
        for s in signals:
            after = rules.apply(self.alerts.get(s.fingerprint), s, now, rules.superseded(s, changed))
            if after is not None:
                self.alerts[s.fingerprint] = after if after.id else replace(after, id=len(self.alerts) + 1)
                changed.append(self.alerts[s.fingerprint])

    def ack(self, fingerprint_part: str, by: str, now: datetime) -> None:
        for key, alert in self.alerts.items():
            if fingerprint_part in key:
                self.alerts[key] = rules.acknowledge(alert, by, now)

    def tick(self, now: datetime) -> list[Digest]:
        out = []
        for agency in self.directory.agencies.values():
            for leader in agency.leaders:
                email = leader.email
                if any(d.recipient.email == email for d in out):
                    continue
                state = self.states.get(email, RecipientState(email))
                selection = select(
                    email, list(self.alerts.values()), state, self.directory, self.silences, self.policy, now
                )
                digest, self.states[email] = plan(leader, selection, state, self.policy, now)
                if digest:
                    out.append(digest)
        self.sent += out
        return out


def to(digests: list[Digest]) -> list[str]:
    return sorted(d.recipient.email.split("@")[0] for d in digests)
