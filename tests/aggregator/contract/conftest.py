"""Each port's contract runs twice: on the in-memory fake and on the PostgreSQL adapter.

`uow` is the projector's `UnitOfWork` in memory and on PostgreSQL (a database of the module's
own, emptied before each test); the PostgreSQL runs are `infra`. `seen` reads back what the
ports wrote but do not read themselves (the outbox, KPI figures, when events were recorded), as
the relay and the read API do, for either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.adapters import repository as repo
from services.aggregator.adapters.codecs import with_lean_codecs
from services.aggregator.adapters.decoding import decode, poison
from services.aggregator.adapters.memory import MemoryUnitOfWork
from services.aggregator.adapters.tables import kpis, outbox, reports
from services.aggregator.adapters.unit_of_work import SqlUnitOfWork
from services.aggregator.service_layer.ports import Delivered, Poison, UnitOfWork
from shared.db import make_engine
from shared.events.codec import to_kafka
from tests.aggregator.helpers import PLAN

TABLES = "recorded_events, agency_versions, kpis, reports, outbox, ledger_snapshots"


@pytest.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.infra)])
def database(request: pytest.FixtureRequest) -> str | None:
    """None for the fakes, else the URL of this module's migrated aggregator database."""
    return None if request.param == "memory" else request.getfixturevalue("module_db")


@pytest.fixture
async def engine(database: str | None) -> AsyncIterator[AsyncEngine | None]:
    if database is None:
        yield None
        return
    engine = with_lean_codecs(make_engine(database))  # as `bootstrap` makes it
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(f'aggregator.{t}' for t in TABLES.split(', '))}"))
    yield engine
    await engine.dispose()


@pytest.fixture
def uow(engine: AsyncEngine | None) -> UnitOfWork:
    return MemoryUnitOfWork() if engine is None else SqlUnitOfWork(engine)


class Seen:
    """What is stored, read straight from the fake's state or the tables."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def outbox(self) -> list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]:
        if isinstance(self.uow, MemoryUnitOfWork):
            return [
                (r.topic, r.record.key, r.record.value, list(r.record.headers)) for r in self.uow.state.outbox
            ]
        rows = await self._rows(select(outbox).order_by(outbox.c.seq))
        return [(r.topic, r.key, r.value, repo.decode_headers(r.headers)) for r in rows]

    async def kpi_figures(self) -> dict[tuple, tuple]:
        if isinstance(self.uow, MemoryUnitOfWork):
            return {
                key: (k.actual, k.target, k.expected, k.forecast, k.status.value, k.due)
                for key, k in self.uow.state.kpis.items()
            }
        rows = await self._rows(select(kpis))
        return {
            (r.agency, r.indicator, r.period): (r.actual, r.target, r.expected, r.forecast, r.status, r.due)
            for r in rows
        }

    async def reports(self) -> dict[tuple, tuple]:
        if isinstance(self.uow, MemoryUnitOfWork):
            return {
                key: (r.status.value, r.deadline, r.submitted_at) for key, r in self.uow.state.reports.items()
            }
        rows = await self._rows(select(reports))
        return {(r.agency, r.period): (r.status, r.deadline, r.submitted_at) for r in rows}

    async def recorded_at(self, agency: str) -> dict[str, datetime]:
        if isinstance(self.uow, MemoryUnitOfWork):
            return {
                key[1]: row.recorded_at
                for key, row in self.uow.state.inbox.items()
                if row.fact is not None and row.fact.agency == agency
            }
        engine: AsyncEngine = self.uow.engine  # type: ignore[attr-defined]
        async with engine.connect() as conn:
            return await repo.recorded_times(conn, agency)

    async def _rows(self, query: Any) -> list:
        engine: AsyncEngine = self.uow.engine  # type: ignore[attr-defined]
        async with engine.connect() as conn:
            return list((await conn.execute(query)).all())


@pytest.fixture
def seen(uow: UnitOfWork) -> Seen:
    return Seen(uow)


def record_of(e: Any, offset: int, partition: int = 0) -> SimpleNamespace:
    """The canonical topic's record of an event at a position."""
    r = to_kafka(e)
    return SimpleNamespace(
        topic="events",
        partition=partition,
        offset=offset,
        key=r.key,
        value=r.value,
        headers=r.headers,
        timestamp=0,
    )


def delivered(e: Any, offset: int) -> Delivered:
    """An event as the aggregator's own decoder makes it."""
    item = decode(record_of(e, offset), PLAN)
    assert isinstance(item, Delivered), item
    return item


def poisoned(offset: int, detail: str = "ValueError: not JSON", value: bytes = b"{") -> Poison:
    record = SimpleNamespace(
        topic="events", partition=1, offset=offset, key=b"CA-TINH", value=value, headers=[], timestamp=0
    )
    return poison(record, detail)
