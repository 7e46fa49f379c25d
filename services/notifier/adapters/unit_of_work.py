"""The `UnitOfWork` port on PostgreSQL: one `engine.begin()` transaction, its alert store and outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.outbox import SqlOutboxWriter
from services.notifier.adapters.repository import SqlAlertStore


@dataclass
class SqlTransaction:
    alerts: SqlAlertStore
    outbox: SqlOutboxWriter


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[SqlTransaction]:
        async with self.engine.begin() as conn:
            yield SqlTransaction(SqlAlertStore(conn), SqlOutboxWriter(conn))
