"""The notification outbox: enqueue in the planner's transaction, claim, mark sent or retry.

A claim is a lease: a sender that dies after claiming (kill -9) leaves a row in `sending`
that another sender takes over once the lease has run out, so nothing is lost. If it died
after the SMTP server accepted the message, the takeover sends it again: that is the only
duplicate possible, and only one per crash.

Functions on a connection (the API lists with them), `SqlOutboxWriter` (the `OutboxWriter` port
in the planner's transaction) and `SqlOutbox` (the sender's `DeliveryQueue`, a transaction a call).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.adapters.tables import outbox
from services.notifier.service_layer.ports import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    Claimed,
    OutboxStats,
    OutgoingEmail,
)

__all__ = ["FAILED", "QUEUED", "SENDING", "SENT", "Claimed", "SqlOutbox", "SqlOutboxWriter"]


async def enqueue(conn: AsyncConnection, email: OutgoingEmail, wall_now: datetime) -> bool:
    """False if a notification with this idempotency key exists already."""
    result = await conn.execute(
        insert(outbox)
        .values(
            idempotency_key=email.key,
            message_id=email.message_id,
            recipient=email.recipient,
            sender=email.sender,
            subject=email.subject,
            message=email.message,
            status=QUEUED,
            created_at=email.created_at,
            enqueued_wall=wall_now,
            next_attempt_at=wall_now,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=[outbox.c.idempotency_key])
        .returning(outbox.c.id)
    )
    return result.first() is not None


async def claim(
    conn: AsyncConnection, worker: str, wall_now: datetime, lease: timedelta, limit: int = 20
) -> list[Claimed]:
    due = ((outbox.c.status == QUEUED) & (outbox.c.next_attempt_at <= wall_now)) | (
        (outbox.c.status == SENDING) & (outbox.c.claimed_at < wall_now - lease)
    )
    ids = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit).with_for_update(skip_locked=True)
    rows = await conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids.scalar_subquery()))
        .values(status=SENDING, claimed_at=wall_now, claimed_by=worker, attempts=outbox.c.attempts + 1)
        .returning(
            outbox.c.id,
            outbox.c.recipient,
            outbox.c.sender,
            outbox.c.message,
            outbox.c.attempts,
            outbox.c.enqueued_wall,
        )
    )
    return sorted(
        (Claimed(r.id, r.recipient, r.sender, r.message, r.attempts, r.enqueued_wall) for r in rows),
        key=lambda c: c.id,
    )


async def mark_sent(conn: AsyncConnection, item_id: int, wall_now: datetime) -> None:
    await conn.execute(
        update(outbox).where(outbox.c.id == item_id).values(status=SENT, sent_at=wall_now, last_error=None)
    )


async def mark_retry(
    conn: AsyncConnection, item_id: int, worker: str, error: str, next_attempt_at: datetime
) -> None:
    """Back to the queue, unless another sender has taken the claim over meanwhile."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == item_id, outbox.c.status == SENDING, outbox.c.claimed_by == worker)
        .values(
            status=QUEUED,
            next_attempt_at=next_attempt_at,
            last_error=error[:2000],
            claimed_at=None,
            claimed_by=None,
        )
    )


async def release(conn: AsyncConnection, item_ids: list[int], worker: str, next_attempt_at: datetime) -> None:
    """Give back claims not attempted (the server is down: trying the rest now is pointless)."""
    if item_ids:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(item_ids), outbox.c.status == SENDING, outbox.c.claimed_by == worker)
            .values(
                status=QUEUED,
                next_attempt_at=next_attempt_at,
                attempts=outbox.c.attempts - 1,
                claimed_at=None,
                claimed_by=None,
            )
        )


async def mark_failed(conn: AsyncConnection, item_id: int, error: str) -> None:
    await conn.execute(
        update(outbox).where(outbox.c.id == item_id).values(status=FAILED, last_error=error[:2000])
    )


async def stats(conn: AsyncConnection) -> OutboxStats:
    rows = await conn.execute(
        select(outbox.c.status, func.count(), func.min(outbox.c.enqueued_wall)).group_by(outbox.c.status)
    )
    counts, oldest = {}, None
    for status, count, first in rows:
        counts[status] = count
        if status in (QUEUED, SENDING) and first is not None:
            oldest = first if oldest is None else min(oldest, first)
    return OutboxStats(counts, oldest)


async def list_outbox(conn: AsyncConnection, limit: int = 100) -> list[dict]:
    rows = await conn.execute(
        select(
            outbox.c.id,
            outbox.c.recipient,
            outbox.c.subject,
            outbox.c.status,
            outbox.c.attempts,
            outbox.c.created_at,
            outbox.c.sent_at,
            outbox.c.last_error,
        )
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


class SqlOutboxWriter:
    """The `OutboxWriter` port in the planner's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def enqueue(self, email: OutgoingEmail, wall_now: datetime) -> bool:
        return await enqueue(self.conn, email, wall_now)


class SqlOutbox:
    """The sender's `DeliveryQueue`: each call one transaction on `engine`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, worker: str, wall_now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        async with self.engine.begin() as conn:
            return await claim(conn, worker, wall_now, lease, limit)

    async def mark_sent(self, item_id: int, wall_now: datetime) -> None:
        async with self.engine.begin() as conn:
            await mark_sent(conn, item_id, wall_now)

    async def retry_later(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, untried: list[int]
    ) -> None:
        async with self.engine.begin() as conn:
            await mark_retry(conn, item_id, worker, error, next_attempt_at)
            await release(conn, untried, worker, next_attempt_at)

    async def mark_failed(self, item_id: int, error: str) -> None:
        async with self.engine.begin() as conn:
            await mark_failed(conn, item_id, error)

    async def stats(self) -> OutboxStats:
        async with self.engine.connect() as conn:
            return await stats(conn)
