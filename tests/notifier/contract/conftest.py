"""Each port's contract runs twice: on the in-memory fake and on the real adapter.

`uow`/`queue` are the notifier's `UnitOfWork` and `DeliveryQueue` in memory and on PostgreSQL
(a database of the module's own, emptied before each test); the PostgreSQL runs are `infra`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.memory import MemoryUnitOfWork
from services.notifier.adapters.outbox import SqlOutbox
from services.notifier.adapters.unit_of_work import SqlUnitOfWork
from services.notifier.service_layer.ports import DeliveryQueue, UnitOfWork
from shared.db import make_engine

TABLES = "inbox, alerts, outbox, recipients, kpi_status, silences, used_ack_tokens"


@pytest.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.infra)])
def database(request: pytest.FixtureRequest) -> str | None:
    """None for the fakes, else the URL of this module's migrated notifier database."""
    return None if request.param == "memory" else request.getfixturevalue("notifier_db")


@pytest.fixture
async def engine(database: str | None) -> AsyncIterator[AsyncEngine | None]:
    if database is None:
        yield None
        return
    engine = make_engine(database)
    async with engine.begin() as conn:
        tables = ", ".join(f"notifier.{t.strip()}" for t in TABLES.split(","))
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    yield engine
    await engine.dispose()


@pytest.fixture
def uow(engine: AsyncEngine | None) -> UnitOfWork:
    return MemoryUnitOfWork() if engine is None else SqlUnitOfWork(engine)


@pytest.fixture
def queue(uow: UnitOfWork) -> DeliveryQueue:
    """The sender's view of the same outbox `uow` writes to."""
    return uow.outbox if isinstance(uow, MemoryUnitOfWork) else SqlOutbox(uow.engine)  # type: ignore[attr-defined]
