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

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from services.notifier.domain.alerts import Alert
from services.notifier.domain.digest import Digest, RecipientState
from services.notifier.domain.kpi_status import KpiKey, RememberedStatus
from services.notifier.domain.silences import Silence
from shared.clock import Clock as Clock  # the one clock protocol of the system

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

    async def record_in_inbox(self, events: Sequence[tuple[str, str, str]], now: datetime) -> list[bool]:
        """Record each (source, id, type) not yet in the inbox; per event, False if it was a
        duplicate (applied before, or earlier in `events`)."""

    async def kpi_statuses(self, keys: Iterable[KpiKey]) -> dict[KpiKey, RememberedStatus]:
        """The remembered statuses of these KPIs, of those that have one."""

    async def save_kpi_statuses(self, statuses: Mapping[KpiKey, RememberedStatus]) -> None:
        """Keep these, except where the stored status is newer by `as_of`."""

    async def at_risk_kpis(self) -> list[AtRiskKpi]: ...

    async def alerts_by_fingerprint(self, fingerprints: Iterable[str]) -> dict[str, Alert]:
        """The alerts there are of these fingerprints, locked (in fingerprint order, so two
        transactions never wait on each other in a circle) until the transaction ends."""

    async def alert_by_id(self, alert_id: int, lock: bool = False) -> Alert | None: ...

    async def save_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Insert or update each by fingerprint (at most one of each); returns them with their ids,
        in the order given."""

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
