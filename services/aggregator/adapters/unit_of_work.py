"""The projector's ports on PostgreSQL: one transaction per batch over the aggregator's tables
(`repository`), the inbox (`recorded_events`), the projections and the outbox in one commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.adapters import repository as repo
from services.aggregator.domain.facts import Fact
from services.aggregator.domain.kpi import Kpi, Report
from services.aggregator.service_layer.ports import (
    Delivered,
    KpiKey,
    Poison,
    Recorded,
    ReportKey,
    Snapshot,
)
from shared.events.codec import KafkaRecord
from shared.events.models import KpiStatus, ReportStatus


class SqlInbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record_facts(self, deliveries: Sequence[Delivered]) -> Recorded | None:
        return await repo.record(self.conn, repo.fact_rows(deliveries))

    async def record_poisons(self, poisons: Sequence[Poison]) -> Recorded | None:
        return await repo.record(self.conn, [repo.poison_row(p) for p in poisons], repo.POISON_COLUMNS)

    async def load_facts(self, agencies: Iterable[str], known_by: datetime | None = None) -> list[Fact]:
        return await repo.load_facts(self.conn, agencies, known_by=known_by)

    def tail(self, agency: str, after: int) -> AsyncIterator[list[Fact]]:
        return repo.tail(self.conn, agency, after)

    async def position(self, agency: str) -> int:
        return await repo.position(self.conn, agency)

    async def load_snapshots(self, agencies: Iterable[str]) -> dict[str, Snapshot]:
        found = await repo.load_snapshots(self.conn, agencies)
        return {a: Snapshot(*row) for a, row in found.items()}

    async def save_snapshot(self, agency: str, snapshot: Snapshot, now: datetime) -> None:
        await repo.save_snapshot(self.conn, agency, snapshot.upto, snapshot.facts, snapshot.state, now)


class SqlProjectionStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_agencies(self, agencies: Iterable[str]) -> dict[str, int]:
        return await repo.lock_agencies(self.conn, agencies)

    async def bump_versions(self, agencies: Iterable[str]) -> dict[str, int]:
        return await repo.bump_versions(self.conn, agencies)

    async def load_statuses(
        self, agencies: Iterable[str]
    ) -> tuple[dict[KpiKey, KpiStatus], dict[ReportKey, ReportStatus]]:
        return await repo.load_statuses(self.conn, agencies)

    async def save_kpis(self, kpis: Sequence[Kpi], now: datetime) -> None:
        await repo.save_kpis(self.conn, kpis, now)

    async def save_reports(self, reports: Sequence[Report], now: datetime) -> None:
        await repo.save_reports(self.conn, reports, now)


class SqlOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def enqueue(self, topic: str, records: Sequence[KafkaRecord], now: datetime) -> None:
        await repo.enqueue(self.conn, topic, records, now)


class SqlTransaction:
    def __init__(self, conn: AsyncConnection) -> None:
        self.inbox = SqlInbox(conn)
        self.projections = SqlProjectionStore(conn)
        self.outbox = SqlOutbox(conn)


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def begin(self, now: datetime) -> AsyncIterator[SqlTransaction]:
        async with self.engine.begin() as conn:
            # The first statement through SQLAlchemy opens the transaction the inbox's raw COPY
            # joins; a batch stuck on a lock or a slow disk is cancelled rather than holding its
            # partition. `aggregator.now` is the clock's moment, which the inbox's `recorded_at`
            # takes (migration 0005).
            await conn.exec_driver_sql(
                f"SELECT set_config('statement_timeout', '60s', true), "
                f"set_config('aggregator.now', '{now.isoformat()}', true)"
            )
            yield SqlTransaction(conn)

    async def reachable(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False
