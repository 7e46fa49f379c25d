"""The accepted-event registry: which `(source, id)` intake has already forwarded.

It answers re-sends as duplicates and lets a correction find the event it replaces. It is a
short-circuit, not the guarantee: rows are written after Kafka acknowledged, so a crash in
between only means a re-send is forwarded again, and the aggregator counts it once.

Every request waits for both statements, so they run on a small asyncpg pool of the
registry's own: one round trip each, where SQLAlchemy's pool added three for its pre-ping
(BEGIN, ping, ROLLBACK) to every checkout. A PostgreSQL restart is noticed on first use instead:
the pool's connections are expired and the statement is tried once more on a fresh one. COPY
(which SQLAlchemy cannot issue) wrote 500 rows in under half the time of `INSERT ... ON
CONFLICT`; one JSON parameter instead of text arrays saves asyncpg's per-element encoding.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import NamedTuple, TypeVar

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.domain.plan_rules import KnownEvent

# What "the registry cannot answer" looks like (SQLAlchemy kept for callers and tests).
UNAVAILABLE = (SQLAlchemyError, OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
_LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)  # worth one retry
T = TypeVar("T")

# One primary-key probe per id (LIMIT 1 keeps the planner from flattening the LATERAL into a
# join): `event_id = ANY(...)` or a plain join let it read every row of the source when
# statistics were stale (150 ms at 10k rows, growing).
_LOOKUP = ("SELECT e.event_id, e.type, e.indicator, e.digest "
           "FROM json_array_elements_text($2::json) AS wanted(id) CROSS JOIN LATERAL ("
           " SELECT event_id, type, indicator, digest FROM intake.accepted_events"
           " WHERE source = $1 AND event_id = wanted.id LIMIT 1) AS e")
# Only for a batch COPY refused: another request recorded one of its events meanwhile.
_INSERT_NEW = ("INSERT INTO intake.accepted_events (source, event_id, type, indicator, digest) "
               "SELECT r->>0, r->>1, r->>2, r->>3, r->>4 FROM json_array_elements($1::json) AS r "
               "ON CONFLICT DO NOTHING")


class Accepted(NamedTuple):  # a row as COPY takes it
    source: str
    event_id: str
    type: str
    indicator: str | None
    digest: str


class EventRegistry:
    def __init__(self, engine: AsyncEngine, *, max_connections: int = 5, timeout_s: float = 5.0) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max, self._timeout = max_connections, timeout_s
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def lookup(self, source: str, ids: Iterable[str]) -> dict[str, KnownEvent]:
        """Known events of one source only: another agency's ids are never visible."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = await self._run(lambda conn: conn.fetch(_LOOKUP, source, json.dumps(wanted)))
        return {r[0]: KnownEvent(r[1], r[2], r[3]) for r in rows}

    async def record(self, accepted: Sequence[Accepted]) -> None:
        if not accepted:
            return

        async def write(conn: asyncpg.Connection) -> None:
            try:
                await conn.copy_records_to_table("accepted_events", schema_name="intake", columns=Accepted._fields,
                                                 records=accepted)
            except asyncpg.UniqueViolationError:
                await conn.execute(_INSERT_NEW, json.dumps(accepted))

        await self._run(write)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        pool = self._pool or await self._open()
        try:
            async with pool.acquire(timeout=self._timeout) as conn:
                return await statement(conn)
        except _LOST:
            await pool.expire_connections()  # after a restart every pooled connection is dead, not just this one
        async with pool.acquire(timeout=self._timeout) as conn:
            return await statement(conn)

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self._dsn, min_size=0, max_size=self._max,
                                                       timeout=self._timeout, reset=_nothing_to_reset)
            return self._pool


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """Our statements leave no session state (no SET, LISTEN, locks or cursors): skip the reset
    query asyncpg would otherwise send on every release, one more round trip per statement."""
