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

Concurrent requests share their round trips (`adapters/coalesce.py`): lookups that arrive while
one is out go out together as one query, rows to record as one COPY. One statement per request
had capped single events at a few hundred a second, most of it spent queueing for the pool's
connections and in asyncpg's per-statement work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.coalesce import Coalescer
from services.intake.domain.plan_rules import KnownEvent
from services.intake.service_layer.ports import Accepted
from shared.db import connect_args

# What "the registry cannot answer" looks like (SQLAlchemy kept for callers and tests).
UNAVAILABLE = (SQLAlchemyError, OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
_LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)  # worth one retry
T = TypeVar("T")
MAX_COALESCED = 5_000  # ids looked up, or rows recorded, in one statement

# One primary-key probe per id (LIMIT 1 keeps the planner from flattening the LATERAL into a
# join): `event_id = ANY(...)` or a plain join let it read every row of the source when
# statistics were stale (150 ms at 10k rows, growing).
_LOOKUP = (
    "SELECT w.r->>0, e.event_id, e.type, e.indicator, e.digest "
    "FROM json_array_elements($1::json) AS w(r) CROSS JOIN LATERAL ("
    " SELECT event_id, type, indicator, digest FROM intake.accepted_events"
    " WHERE source = w.r->>0 AND event_id = w.r->>1 LIMIT 1) AS e"
)
# Only for a batch COPY refused: another request recorded one of its events meanwhile.
_INSERT_NEW = (
    "INSERT INTO intake.accepted_events (source, event_id, type, indicator, digest) "
    "SELECT r->>0, r->>1, r->>2, r->>3, r->>4 FROM json_array_elements($1::json) AS r "
    "ON CONFLICT DO NOTHING"
)


class EventRegistry:
    """`service_layer.ports.EventRegistry` on PostgreSQL (`intake.accepted_events`)."""

    unavailable = UNAVAILABLE

    def __init__(self, engine: AsyncEngine, *, max_connections: int = 5, timeout_s: float = 5.0) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max, self._timeout = max_connections, timeout_s
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        # Two of each out at a time: a big batch's statement does not hold up every other request.
        self._lookups: Coalescer[tuple[str, list[str]], dict[str, KnownEvent]] = Coalescer(
            self._lookup_many,
            size=lambda item: len(item[1]),
            max_size=MAX_COALESCED,
            concurrency=2,
            name="registry-lookup",
        )
        self._records: Coalescer[Sequence[Accepted], None] = Coalescer(
            self._record_many, size=len, max_size=MAX_COALESCED, concurrency=2, name="registry-record"
        )

    async def lookup(self, source: str, ids: Iterable[str]) -> dict[str, KnownEvent]:
        """Known events of one source only: another agency's ids are never visible."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return await self._lookups((source, wanted))

    async def _lookup_many(self, wanted: list[tuple[str, list[str]]]) -> list[dict[str, KnownEvent]]:
        pairs = sorted({(source, i) for source, ids in wanted for i in ids})
        rows = await self._run(lambda conn: conn.fetch(_LOOKUP, json.dumps(pairs)))
        found: dict[str, dict[str, KnownEvent]] = {}
        for r in rows:
            found.setdefault(r[0], {})[r[1]] = KnownEvent(r[2], r[3], r[4])
        # Each caller sees its own source's rows, and only the ids it asked for.
        return [
            {i: k for i in ids if (k := found.get(source, {}).get(i)) is not None} for source, ids in wanted
        ]

    async def record(self, accepted: Sequence[Accepted]) -> None:
        if accepted:
            await self._records(accepted)

    async def _record_many(self, groups: list[Sequence[Accepted]]) -> list[None]:
        rows = [row for group in groups for row in group]

        async def write(conn: asyncpg.Connection) -> None:
            try:
                await conn.copy_records_to_table(
                    "accepted_events", schema_name="intake", columns=Accepted._fields, records=rows
                )
            except asyncpg.UniqueViolationError:  # recorded meanwhile, or twice among these rows
                await conn.execute(_INSERT_NEW, json.dumps(rows))

        await self._run(write)
        return [None] * len(groups)

    async def close(self) -> None:
        await self._lookups.close()
        await self._records.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        pool = self._pool or await self._open()
        try:
            async with pool.acquire(timeout=self._timeout) as conn:
                return await statement(conn)
        except _LOST:
            await (
                pool.expire_connections()
            )  # after a restart every pooled connection is dead, not just this one
        async with pool.acquire(timeout=self._timeout) as conn:
            return await statement(conn)

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._max,
                    timeout=self._timeout,
                    reset=_nothing_to_reset,
                    **connect_args(self._dsn),  # password file and TLS, as every engine
                )
            return self._pool


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """Our statements leave no session state (no SET, LISTEN, locks or cursors): skip the reset
    query asyncpg would otherwise send on every release, one more round trip per statement."""
