"""The notifier's ports in memory, for unit tests: the real use cases run on these in milliseconds.

They behave as the PostgreSQL and SMTP adapters do (`tests/notifier/contract/` runs the same
tests against both): a transaction that raises leaves nothing behind, ids are assigned in
insertion order, lists come back ordered by id. There are no locks: one event loop, and no
await inside a fake's method, so nothing interleaves within a call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services.notifier.domain.alerts import FIRING, Alert
from services.notifier.domain.digest import RecipientState
from services.notifier.domain.kpi_status import KpiKey, RememberedStatus
from services.notifier.domain.silences import Silence
from services.notifier.service_layer.ports import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    AtRiskKpi,
    Claimed,
    OutboxStats,
    OutgoingEmail,
)
from shared.events import KpiStatus


@dataclass(frozen=True)
class OutboxRow:
    id: int
    email: OutgoingEmail
    enqueued_wall: datetime
    next_attempt_at: datetime
    status: str = QUEUED
    attempts: int = 0
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass
class MemoryState:
    """Everything the notifier keeps. Values are immutable, so a shallow copy is a snapshot."""

    inbox: set[tuple[str, str]] = field(default_factory=set)
    kpis: dict[KpiKey, RememberedStatus] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)  # by fingerprint
    silences: dict[int, Silence] = field(default_factory=dict)
    recipients: dict[str, RecipientState] = field(default_factory=dict)
    used_nonces: set[str] = field(default_factory=set)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    last_id: dict[str, int] = field(default_factory=dict)  # table → last id assigned

    def snapshot(self) -> MemoryState:
        return MemoryState(
            set(self.inbox),
            dict(self.kpis),
            dict(self.alerts),
            dict(self.silences),
            dict(self.recipients),
            set(self.used_nonces),
            dict(self.outbox),
            dict(self.last_id),
        )

    def restore(self, snapshot: MemoryState) -> None:
        self.__dict__.update(snapshot.__dict__)

    def next_id(self, table: str) -> int:
        self.last_id[table] = self.last_id.get(table, 0) + 1
        return self.last_id[table]


class MemoryAlertStore:
    """The `AlertStore` port in memory."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    async def record_in_inbox(self, events: Sequence[tuple[str, str, str]], now: datetime) -> list[bool]:
        fresh = []
        for source, event_id, _ in events:
            fresh.append((source, event_id) not in self.state.inbox)
            self.state.inbox.add((source, event_id))
        return fresh

    async def kpi_statuses(self, keys: Iterable[KpiKey]) -> dict[KpiKey, RememberedStatus]:
        return {k: self.state.kpis[k] for k in keys if k in self.state.kpis}

    async def save_kpi_statuses(self, statuses: Mapping[KpiKey, RememberedStatus]) -> None:
        for key, status in statuses.items():
            old = self.state.kpis.get(key)
            if old is None or old.as_of <= status.as_of:
                self.state.kpis[key] = replace(status, facts=dict(status.facts))

    async def at_risk_kpis(self) -> list[AtRiskKpi]:
        return [
            AtRiskKpi(agency, indicator, period, row.since, dict(row.facts))
            for (agency, indicator, period), row in self.state.kpis.items()
            if row.status is KpiStatus.AT_RISK
        ]

    async def alerts_by_fingerprint(self, fingerprints: Iterable[str]) -> dict[str, Alert]:
        return {f: self.state.alerts[f] for f in sorted(set(fingerprints)) if f in self.state.alerts}

    async def alert_by_id(self, alert_id: int, lock: bool = False) -> Alert | None:
        return next((a for a in self.state.alerts.values() if a.id == alert_id), None)

    async def save_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        if len({a.fingerprint for a in alerts}) < len(alerts):  # as one INSERT … ON CONFLICT would
            raise ValueError("save_alerts takes at most one alert of each fingerprint")
        saved = []
        for alert in alerts:
            current = self.state.alerts.get(alert.fingerprint)
            alert_id = current.id if current else self.state.next_id("alerts")
            saved.append(replace(alert, id=alert_id, facts=dict(alert.facts)))
            self.state.alerts[alert.fingerprint] = saved[-1]
        return saved

    async def alerts_for(self, agencies: Iterable[str] | None, also_ids: Iterable[int] = ()) -> list[Alert]:
        scope, ids = None if agencies is None else set(agencies), set(also_ids)
        chosen = [
            a
            for a in self.state.alerts.values()
            if (a.state == FIRING and (scope is None or a.agency in scope)) or a.id in ids
        ]
        return sorted(chosen, key=lambda a: a.id or 0)

    async def set_acknowledged(self, alert: Alert) -> None:
        for fingerprint, stored in self.state.alerts.items():
            if stored.id == alert.id:
                self.state.alerts[fingerprint] = replace(
                    stored,
                    acked_at=alert.acked_at,
                    acked_by=alert.acked_by,
                    acked_by_subject=alert.acked_by_subject,
                )

    async def add_silence(self, silence: Silence, now: datetime) -> Silence:
        created = replace(silence, id=self.state.next_id("silences"))
        self.state.silences[created.id] = created  # type: ignore[index]
        return created

    async def list_silences(self, now: datetime | None = None) -> list[Silence]:
        return [s for _, s in sorted(self.state.silences.items()) if now is None or s.ends_at > now]

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        silence = self.state.silences.get(silence_id)
        if silence is None or silence.ends_at <= now:
            return False
        self.state.silences[silence_id] = replace(silence, starts_at=min(silence.starts_at, now), ends_at=now)
        return True

    async def lock_recipient(self, email: str) -> RecipientState:
        state = self.state.recipients.setdefault(email, RecipientState(email))
        return replace(state, delivered=dict(state.delivered))

    async def save_recipient(self, state: RecipientState) -> None:
        if state.email in self.state.recipients:  # as the UPDATE: only a row lock_recipient made
            self.state.recipients[state.email] = replace(state, delivered=dict(state.delivered))

    async def recipient_states(self) -> list[RecipientState]:
        return [replace(s, delivered=dict(s.delivered)) for s in self.state.recipients.values()]

    async def use_ack_nonce(self, nonce: str, alert_id: int, now: datetime) -> bool:
        if nonce in self.state.used_nonces:
            return False
        self.state.used_nonces.add(nonce)
        return True


class MemoryOutbox:
    """The `OutboxWriter` and `DeliveryQueue` ports in memory, on one state."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    @property
    def rows(self) -> list[OutboxRow]:
        return [row for _, row in sorted(self.state.outbox.items())]

    async def enqueue(self, email: OutgoingEmail, wall_now: datetime) -> bool:
        if any(row.email.key == email.key for row in self.state.outbox.values()):
            return False
        row_id = self.state.next_id("outbox")
        self.state.outbox[row_id] = OutboxRow(row_id, email, wall_now, wall_now)
        return True

    async def claim(self, worker: str, wall_now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        def due(row: OutboxRow) -> bool:
            if row.status == QUEUED:
                return row.next_attempt_at <= wall_now
            return row.status == SENDING and row.claimed_at is not None and row.claimed_at < wall_now - lease

        claimed = []
        for row in [r for r in self.rows if due(r)][:limit]:
            taken = replace(
                row, status=SENDING, claimed_at=wall_now, claimed_by=worker, attempts=row.attempts + 1
            )
            self.state.outbox[row.id] = taken
            email = taken.email
            claimed.append(
                Claimed(
                    taken.id,
                    email.recipient,
                    email.sender,
                    email.message,
                    taken.attempts,
                    taken.enqueued_wall,
                )
            )
        return claimed

    async def mark_sent(self, item_id: int, wall_now: datetime) -> None:
        if item_id in self.state.outbox:
            self.state.outbox[item_id] = replace(
                self.state.outbox[item_id], status=SENT, sent_at=wall_now, last_error=None
            )

    async def retry_later(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, untried: list[int]
    ) -> None:
        def release(row_id: int, **changes: Any) -> None:
            """Back in the queue, if this worker still holds the lease."""
            row = self.state.outbox.get(row_id)
            if row is not None and row.status == SENDING and row.claimed_by == worker:
                self.state.outbox[row_id] = replace(
                    row,
                    status=QUEUED,
                    next_attempt_at=next_attempt_at,
                    claimed_at=None,
                    claimed_by=None,
                    **changes,
                )

        release(item_id, last_error=error[:2000])
        for other in untried:  # never tried: their attempt is given back
            if (row := self.state.outbox.get(other)) is not None:
                release(other, attempts=row.attempts - 1)

    async def mark_failed(self, item_id: int, error: str) -> None:
        if item_id in self.state.outbox:
            self.state.outbox[item_id] = replace(
                self.state.outbox[item_id], status=FAILED, last_error=error[:2000]
            )

    async def stats(self) -> OutboxStats:
        counts: dict[str, int] = {}
        for row in self.state.outbox.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        unsent = [r.enqueued_wall for r in self.state.outbox.values() if r.status in (QUEUED, SENDING)]
        return OutboxStats(counts, min(unsent, default=None))


@dataclass
class MemoryTransaction:
    alerts: MemoryAlertStore
    outbox: MemoryOutbox


class MemoryUnitOfWork:
    """The `UnitOfWork` port in memory: `commits` and `rollbacks` count the transactions."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state or MemoryState()
        self.commits = self.rollbacks = 0
        self.outbox = MemoryOutbox(self.state)  # also the sender's DeliveryQueue
        self.alerts = MemoryAlertStore(self.state)  # for tests: read and arrange state directly

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[MemoryTransaction]:
        before = self.state.snapshot()
        try:
            yield MemoryTransaction(MemoryAlertStore(self.state), MemoryOutbox(self.state))
        except BaseException:
            self.state.restore(before)
            self.rollbacks += 1
            raise
        self.commits += 1


class MemoryTransport:
    """The `MailTransport` port in memory: `sent` holds what was accepted; `failures` are raised
    one per send, in order, before any message is accepted."""

    def __init__(self, failures: Iterable[Exception] = ()) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.failures = list(failures)

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((sender, recipient, message))
