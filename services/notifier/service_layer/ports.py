"""What the notifier's use cases need from the outside world, as `Protocol`s they own.

`Notifier.handle`/`tick` work in one `UnitOfWork` transaction at a time: its `alerts` (inbox,
KPI statuses, alerts, silences, leaders' grouping state, used ack links) and its `outbox`
(enqueue a digest email in the same commit). `Sender.run_once` works on the `DeliveryQueue`,
where each call is its own transaction, and hands messages to a `MailTransport`. A `Composer`
turns a planned digest into the email. PostgreSQL, SMTP and Jinja implement these in
`adapters/`; `adapters/memory.py` implements them in memory for unit tests, and
`tests/notifier/contract/` runs the same tests against both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from services.notifier.domain.alerts import Alert
from services.notifier.domain.digest import Digest, RecipientState
from services.notifier.domain.silences import Silence
from shared.clock import Clock as Clock  # the one clock protocol of the system
from shared.events import KpiStatus

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"


class TransientSmtpError(Exception):
    """Try again later: the server is down, busy or said 4xx."""


class PermanentSmtpError(Exception):
    """The server said 5xx for this message or recipient: retrying will not help."""


class InvalidAddress(ValueError):
    """Not a plain e-mail address: the email cannot be written."""


@dataclass(frozen=True)
class AtRiskKpi:
    """A KPI whose latest status is at risk, and since when it has been."""

    agency: str
    indicator: str
    period: str
    since: datetime
    facts: dict[str, Any]


@dataclass(frozen=True)
class OutgoingEmail:
    """A composed email as the planner puts it in the outbox; `key` makes it idempotent."""

    key: str
    message_id: str
    recipient: str
    sender: str
    subject: str
    message: bytes
    created_at: datetime


@dataclass(frozen=True)
class Claimed:
    """An outbox email leased to one sender."""

    id: int
    recipient: str
    sender: str
    message: bytes
    attempts: int
    enqueued_wall: datetime


@dataclass(frozen=True)
class OutboxStats:
    counts: dict[str, int] = field(default_factory=dict)  # status → emails
    oldest_unsent: datetime | None = None  # wall time the oldest queued or sending email was enqueued


class AlertStore(Protocol):
    """The notifier's state, read and written inside one transaction."""

    async def record_in_inbox(self, source: str, event_id: str, type_: str, now: datetime) -> bool:
        """False if this (source, id) was already applied: the event is a duplicate."""

    async def kpi_status_of(self, agency: str, indicator: str, period: str) -> KpiStatus | None: ...

    async def remember_kpi_status(
        self,
        agency: str,
        indicator: str,
        period: str,
        status: KpiStatus,
        as_of: datetime,
        facts: dict[str, Any],
    ) -> None:
        """Keep the newest status by `as_of`; `since` moves only when the status changes."""

    async def at_risk_kpis(self) -> list[AtRiskKpi]: ...

    async def alert_by_fingerprint(self, fingerprint: str) -> Alert | None:
        """The alert, locked until the transaction ends."""

    async def alert_by_id(self, alert_id: int, lock: bool = False) -> Alert | None: ...

    async def save_alert(self, alert: Alert) -> Alert:
        """Insert or update by fingerprint; returns it with its id."""

    async def alerts_for(self, agencies: Iterable[str] | None, also_ids: Iterable[int] = ()) -> list[Alert]:
        """Firing alerts of these agencies (None = all) plus the listed ones whatever their state, by id."""

    async def set_acknowledged(self, alert: Alert) -> None: ...

    async def add_silence(self, silence: Silence, now: datetime) -> Silence: ...

    async def list_silences(self, now: datetime | None = None) -> list[Silence]:
        """All silences, or only those not yet over at `now`, by id."""

    async def expire_silence(self, silence_id: int, now: datetime) -> bool: ...

    async def lock_recipient(self, email: str) -> RecipientState:
        """The leader's grouping state (created empty), locked: one planner at a time per leader."""

    async def save_recipient(self, state: RecipientState) -> None: ...

    async def recipient_states(self) -> list[RecipientState]:
        """Every leader's grouping state as it stands, not locked (the tick's first look)."""

    async def use_ack_nonce(self, nonce: str, alert_id: int, now: datetime) -> bool:
        """False if the link was used before (single use)."""


class OutboxWriter(Protocol):
    async def enqueue(self, email: OutgoingEmail, wall_now: datetime) -> bool:
        """False if an email with this idempotency key exists already."""


class Transaction(Protocol):
    alerts: AlertStore
    outbox: OutboxWriter


class UnitOfWork(Protocol):
    def begin(self) -> AbstractAsyncContextManager[Transaction]:
        """One transaction: committed when the block ends, rolled back when it raises."""


class DeliveryQueue(Protocol):
    """The outbox as the sender sees it; each call is one transaction."""

    async def claim(self, worker: str, wall_now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        """Lease due emails (queued and due, or sending with an expired lease), by id; attempts + 1."""

    async def mark_sent(self, item_id: int, wall_now: datetime) -> None: ...

    async def retry_later(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, untried: list[int]
    ) -> None:
        """This email back to the queue, and the `untried` claims given back without an attempt,
        unless another sender has taken them over meanwhile."""

    async def mark_failed(self, item_id: int, error: str) -> None: ...

    async def stats(self) -> OutboxStats: ...


class MailTransport(Protocol):
    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Raises `TransientSmtpError` (try later) or `PermanentSmtpError` (never)."""


class Composer(Protocol):
    from_address: str  # the envelope sender

    def compose(self, digest: Digest, ack_link: Callable[[Alert], str]) -> EmailMessage:
        """The digest as an email; `InvalidAddress` if the recipient's address cannot be written."""
