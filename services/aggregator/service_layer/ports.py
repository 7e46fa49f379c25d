"""What the projector needs from the outside world, as `Protocol`s it owns.

`Projector.apply` works in one `UnitOfWork` transaction per batch: the `Inbox` records which
events (by `(source, id)`) were processed, together with the `ProjectionStore`'s KPIs and
reports and the `Outbox`'s status changes and dead letters, so a batch is applied all or nothing
and a redelivery is recognised. PostgreSQL implements these in `adapters/unit_of_work.py`;
`adapters/memory.py` implements them in memory for unit tests, and `tests/aggregator/contract/`
runs the same tests against both.

The records the projector takes are here too: a `Delivered` fact or a `Poison` record, made by
the decoder (`adapters/decoding.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

import msgspec

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.kpi import Kpi, Report
from shared.events.codec import KafkaRecord
from shared.events.models import KpiStatus, ReportStatus

EventKey = tuple[str, str]  # (source, id): what the inbox knows an event by
KpiKey = tuple[str, str, str]  # (agency, indicator, period)
ReportKey = tuple[str, str]  # (agency, period)


class Delivered(msgspec.Struct, frozen=True, gc=False):
    """A record that decoded into a fact (made per event: a C struct, like `Fact`)."""

    fact: Fact
    partition: int
    offset: int
    data_json: bytes  # the fact's data as UTF-8 JSON (the record's own bytes), for the inbox row

    @property
    def key(self) -> EventKey:
        return (self.fact.source, self.fact.id)


@dataclass(frozen=True, slots=True)
class Poison:
    """A record that cannot be applied; it goes to the dead-letter topic with the reason (a
    `shared.deadletter` code) and the detail. The inbox keys it by its position."""

    source: str
    id: str
    agency: str | None
    reason: str
    partition: int
    offset: int
    record: KafkaRecord
    detail: str = ""
    attempts: int = 1
    topic: str = ""

    @property
    def key(self) -> EventKey:
        return (self.source, self.id)


class Recorded(NamedTuple):
    """The inbox's verdict on a batch it held some of already: the keys that were new, and the
    repeats it had recorded at another position (a resend, not a redelivery of the same record)."""

    new: set[EventKey]
    resent: set[EventKey]


class Snapshot(NamedTuple):
    """An agency's ledger folded from its facts recorded up to position `upto` (`facts` of them)."""

    upto: int
    facts: int
    state: bytes


class Inbox(Protocol):
    """The processed events: recorded in the batch's transaction, so a redelivery is known."""

    async def record_facts(self, deliveries: Sequence[Delivered]) -> Recorded | None:
        """Record each fact once (a known key keeps its first row); None when every key was new."""
        ...

    async def record_poisons(self, poisons: Sequence[Poison]) -> Recorded | None:
        """Record each poison record once, with its reason; None when every key was new."""
        ...

    async def load_facts(self, agencies: Iterable[str], known_by: datetime | None = None) -> list[Fact]:
        """The accepted facts of these agencies, as recorded (time in UTC, data as JSON gives it);
        with `known_by`, only those recorded by then (a baseline frozen at that moment)."""
        ...

    def tail(self, agency: str, after: int) -> AsyncIterator[list[Fact]]:
        """The agency's accepted facts recorded after position `after`, in chunks (memory holds
        one chunk, not the agency's history): what a snapshot taken at `after` lacks."""
        ...

    async def position(self, agency: str) -> int:
        """The position of the agency's last recorded event (0 for none)."""
        ...

    async def load_snapshots(self, agencies: Iterable[str]) -> dict[str, Snapshot]:
        """The agencies' latest ledger snapshots (none for an agency never snapshotted)."""
        ...

    async def save_snapshot(self, agency: str, snapshot: Snapshot, now: datetime) -> None:
        """Keep the snapshot in place of the agency's last (with the transaction)."""
        ...


class ProjectionStore(Protocol):
    """The agencies' KPIs and reports, and the version each agency's projection was saved at."""

    async def lock_agencies(self, agencies: Iterable[str]) -> dict[str, int]:
        """Lock the agencies until the transaction ends (one batch per agency at a time, across
        replicas); their versions, 0 for an agency never saved."""
        ...

    async def bump_versions(self, agencies: Iterable[str]) -> dict[str, int]:
        """Give each agency a new version, greater than any given before; the new versions."""
        ...

    async def load_statuses(
        self, agencies: Iterable[str]
    ) -> tuple[dict[KpiKey, KpiStatus], dict[ReportKey, ReportStatus]]:
        """The saved statuses of these agencies' KPIs and reports."""
        ...

    async def save_kpis(self, kpis: Sequence[Kpi], now: datetime) -> None:
        """Insert or replace by key, evaluated at `now`."""
        ...

    async def save_reports(self, reports: Sequence[Report], now: datetime) -> None:
        """Insert or replace by key, evaluated at `now`."""
        ...


class Outbox(Protocol):
    """Records to publish once the transaction commits (status changes, dead letters)."""

    async def enqueue(self, topic: str, records: Sequence[KafkaRecord], now: datetime) -> None:
        """Keep the records, in order, with any bytes their headers hold."""
        ...


class Transaction(Protocol):
    inbox: Inbox
    projections: ProjectionStore
    outbox: Outbox


class UnitOfWork(Protocol):
    def begin(self, now: datetime) -> AbstractAsyncContextManager[Transaction]:
        """One transaction, at the clock's moment `now` (when its events count as recorded):
        committed when the block ends, rolled back when it raises."""
        ...

    async def reachable(self) -> bool:
        """Whether the store answers now (an outage is waited out, never a reason to dead-letter)."""
        ...
