"""The sender: claim due emails, hand them to SMTP, mark them sent; retry with backoff and jitter.

`checkpoint` lets the crash tests stop the process at the two dangerous moments (after the
claim, after the SMTP server accepted) exactly, instead of hoping a timer lands there.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters import outbox
from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.adapters.smtp import PermanentSmtpError, SmtpTransport, TransientSmtpError
from shared.clock import Clock, SystemClock
from shared.db import transient

log = logging.getLogger(__name__)


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Sender:
    def __init__(
        self,
        engine: AsyncEngine,
        transport: SmtpTransport,
        metrics: NotifierMetrics,
        *,
        worker: str,
        lease: timedelta,
        retry_base: float = 2.0,
        retry_cap: float = 600.0,
        wall: Clock | None = None,
        checkpoint: Callable[[str, int], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine, self.transport, self.metrics = engine, transport, metrics
        self.worker, self.lease, self.retry_base, self.retry_cap = worker, lease, retry_base, retry_cap
        self.wall = wall or SystemClock()
        self.checkpoint = checkpoint or (lambda stage, item_id: None)
        self.rng = rng or random.Random()

    async def run_once(self, limit: int = 20) -> int:
        """Send what is due; returns how many were accepted by the SMTP server."""
        async with self.engine.begin() as conn:
            claimed = await outbox.claim(conn, self.worker, self.wall.now(), self.lease, limit)
        sent = 0
        for position, item in enumerate(claimed):
            self.checkpoint("claimed", item.id)
            started = time.monotonic()
            try:
                await self.transport.send(item.sender, item.recipient, item.message)
            except TransientSmtpError as exc:
                delay = backoff(item.attempts, self.retry_base, self.retry_cap, self.rng)
                log.warning(
                    "email %s to %s: %s; retry %d in %.1fs",
                    item.id,
                    item.recipient,
                    exc,
                    item.attempts,
                    delay,
                )
                self.metrics.retried.inc()
                retry_at = self.wall.now() + timedelta(seconds=delay)
                async with self.engine.begin() as conn:
                    await outbox.mark_retry(conn, item.id, self.worker, str(exc), retry_at)
                    await outbox.release(conn, [i.id for i in claimed[position + 1 :]], self.worker, retry_at)
                break
            except PermanentSmtpError as exc:
                log.error("email %s to %s refused for good: %s", item.id, item.recipient, exc)
                self.metrics.failed.inc()
                async with self.engine.begin() as conn:
                    await outbox.mark_failed(conn, item.id, str(exc))
                continue
            self.checkpoint("sent", item.id)
            self.metrics.send_seconds.observe(time.monotonic() - started)
            now = self.wall.now()
            await self._record_sent(item.id, now)
            self.metrics.sent.inc()
            self.metrics.latency.observe(max((now - item.enqueued_wall).total_seconds(), 0))
            sent += 1
        return sent

    async def _record_sent(self, item_id: int, now: datetime) -> None:
        """The SMTP server has the email: record it, waiting out a database outage. Left to the
        lease, the email would go out a second time once the database is back."""
        delay = 0.2
        while True:
            try:
                async with self.engine.begin() as conn:
                    await outbox.mark_sent(conn, item_id, now)
                return
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("email %s sent, not yet recorded (%s); retrying in %.1fs", item_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def observe(self) -> None:
        async with self.engine.connect() as conn:
            stats = await outbox.stats(conn)
        for status in (outbox.QUEUED, outbox.SENDING, outbox.SENT, outbox.FAILED):
            self.metrics.pending.labels(status).set(stats["counts"].get(status, 0))
        oldest: datetime | None = stats["oldest_unsent"]
        self.metrics.oldest_unsent.set((self.wall.now() - oldest).total_seconds() if oldest else 0)
