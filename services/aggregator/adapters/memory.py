"""The projector's ports in memory, for unit tests: the real use case runs on these in milliseconds.

They behave as the PostgreSQL adapter does (`tests/aggregator/contract/` runs the same tests
against both): a transaction that raises leaves nothing behind; the inbox keeps the first row of
a key and tells a redelivery (same position) from a resend (another one); facts come back as
stored (data through JSON, time in UTC); versions come from one sequence. No locks: one event
loop, and no await inside a fake's method, so nothing interleaves within a call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import msgspec

from services.aggregator.domain.facts import Fact
from services.aggregator.domain.kpi import Kpi, Report
from services.aggregator.service_layer.ports import (
    Delivered,
    EventKey,
    KpiKey,
    Poison,
    Recorded,
    ReportKey,
    Snapshot,
)
from services.aggregator.service_layer.turns import FACTS_PER_TURN
from shared.deadletter import clean_text
from shared.events.codec import KafkaRecord
from shared.events.models import KpiStatus, ReportStatus, agency_source

_decode_json = msgspec.json.Decoder().decode


def _reason(p: Poison) -> str:
    """What the inbox keeps of a poison record, as `repository.poison_row` words it."""
    return clean_text(f"{p.reason}: {p.detail}" if p.detail else p.reason, 1000)


@dataclass(frozen=True)
class InboxRow:
    arrival: int  # the position it was recorded at: a repeat elsewhere is a resend
    recorded_at: datetime
    fact: Fact | None = None  # None for a poison record
    rejected: str | None = None  # a poison record's reason
    seq: int = 0  # the order it was recorded in (the SQL inbox's `seq`)


@dataclass(frozen=True)
class OutboxRow:
    topic: str
    record: KafkaRecord
    created_at: datetime


@dataclass
class MemoryState:
    """Everything the projector keeps. Values are immutable, so a shallow copy is a snapshot."""

    inbox: dict[EventKey, InboxRow] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    last_version: int = 0
    kpis: dict[KpiKey, Kpi] = field(default_factory=dict)
    reports: dict[ReportKey, Report] = field(default_factory=dict)
    outbox: list[OutboxRow] = field(default_factory=list)
    last_seq: int = 0
    ledger_snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def snapshot(self) -> MemoryState:
        return MemoryState(
            dict(self.inbox),
            dict(self.versions),
            self.last_version,
            dict(self.kpis),
            dict(self.reports),
            list(self.outbox),
            self.last_seq,
            dict(self.ledger_snapshots),
        )


class _Part:
    """One port of an open transaction; unusable once it ended."""

    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    @property
    def state(self) -> MemoryState:
        if self._tx.ended:
            raise RuntimeError("the transaction has ended")
        return self._tx.state


class MemoryInbox(_Part):
    async def record_facts(self, deliveries: Sequence[Delivered]) -> Recorded | None:
        return self._record(
            [
                (
                    d.key,
                    InboxRow(
                        d.fact.arrival,
                        self._tx.now,
                        Fact(
                            d.fact.source,
                            d.fact.id,
                            d.fact.agency,
                            d.fact.kind,
                            d.fact.time.astimezone(UTC),
                            d.fact.arrival,
                            _decode_json(d.data_json),
                        ),
                    ),
                )
                for d in deliveries
            ]
        )

    async def record_poisons(self, poisons: Sequence[Poison]) -> Recorded | None:
        return self._record([(p.key, InboxRow(p.offset, self._tx.now, rejected=_reason(p))) for p in poisons])

    def _record(self, rows: list[tuple[EventKey, InboxRow]]) -> Recorded | None:
        inbox, state = self.state.inbox, self.state
        numbered = []
        for key, row in rows:  # numbered as they come, as the SQL inbox's sequence does
            state.last_seq += 1
            numbered.append((key, replace(row, seq=state.last_seq)))
        rows = numbered
        if all(key not in inbox for key, _ in rows) and len({key for key, _ in rows}) == len(rows):
            inbox.update(rows)
            return None
        new: set[EventKey] = set()
        for key, row in rows:
            if key not in inbox:
                inbox[key] = row
                new.add(key)
        resent = {key for key, row in rows if inbox[key].arrival != row.arrival}
        return Recorded(new, resent)

    async def load_facts(self, agencies: Iterable[str], known_by: datetime | None = None) -> list[Fact]:
        sources = {agency_source(a) for a in agencies}
        return [
            row.fact
            for (source, _), row in self.state.inbox.items()
            if row.fact is not None
            and source in sources
            and (known_by is None or row.recorded_at <= known_by)
        ]

    async def tail(self, agency: str, after: int) -> AsyncIterator[list[Fact]]:
        source = agency_source(agency)
        facts = [r.fact for (s, _), r in self.state.inbox.items() if s == source and r.seq > after and r.fact]
        for start in range(0, len(facts), FACTS_PER_TURN):
            yield facts[start : start + FACTS_PER_TURN]

    async def position(self, agency: str) -> int:
        source = agency_source(agency)
        return max((row.seq for (s, _), row in self.state.inbox.items() if s == source), default=0)

    async def load_snapshots(self, agencies: Iterable[str]) -> dict[str, Snapshot]:
        kept = self.state.ledger_snapshots
        return {a: kept[a] for a in agencies if a in kept}

    async def save_snapshot(self, agency: str, snapshot: Snapshot, now: datetime) -> None:
        self.state.ledger_snapshots[agency] = snapshot


class MemoryProjectionStore(_Part):
    async def lock_agencies(self, agencies: Iterable[str]) -> dict[str, int]:
        versions = self.state.versions
        return {a: versions.setdefault(a, 0) for a in sorted(set(agencies))}

    async def bump_versions(self, agencies: Iterable[str]) -> dict[str, int]:
        state = self.state
        bumped = {}
        for agency in sorted(set(agencies)):
            if agency in state.versions:  # as an UPDATE: only agencies locked (hence known) before
                state.last_version += 1
                state.versions[agency] = bumped[agency] = state.last_version
        return bumped

    async def load_statuses(
        self, agencies: Iterable[str]
    ) -> tuple[dict[KpiKey, KpiStatus], dict[ReportKey, ReportStatus]]:
        names = set(agencies)
        state = self.state
        return (
            {key: k.status for key, k in state.kpis.items() if key[0] in names},
            {key: r.status for key, r in state.reports.items() if key[0] in names},
        )

    async def save_kpis(self, kpis: Sequence[Kpi], now: datetime) -> None:
        self.state.kpis.update((k.key, k) for k in kpis)

    async def save_reports(self, reports: Sequence[Report], now: datetime) -> None:
        self.state.reports.update((r.key, r) for r in reports)


class MemoryOutbox(_Part):
    async def enqueue(self, topic: str, records: Sequence[KafkaRecord], now: datetime) -> None:
        self.state.outbox += [
            OutboxRow(topic, KafkaRecord(r.key, r.value, [(n, bytes(v or b"")) for n, v in r.headers]), now)
            for r in records
        ]


class MemoryTransaction:
    def __init__(self, state: MemoryState, now: datetime) -> None:
        self.state, self.now, self.ended = state, now, False
        self.inbox = MemoryInbox(self)
        self.projections = MemoryProjectionStore(self)
        self.outbox = MemoryOutbox(self)


class MemoryUnitOfWork:
    """`state` is what is committed; a transaction works on a copy, kept only if it ends well."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state or MemoryState()
        self.commits = 0
        self.rollbacks = 0
        self.available = True  # False: the store is away (`reachable`, and `begin` fails)

    @asynccontextmanager
    async def begin(self, now: datetime) -> AsyncIterator[MemoryTransaction]:
        if not self.available:
            raise ConnectionError("the store is unreachable")
        tx = MemoryTransaction(self.state.snapshot(), now)
        try:
            yield tx
        except BaseException:
            self.rollbacks += 1
            raise
        finally:
            tx.ended = True
        self.state = tx.state
        self.commits += 1

    async def reachable(self) -> bool:
        return self.available
