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

from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.service_layer.ports import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    Clock,
    DeliveryQueue,
    MailTransport,
    PermanentSmtpError,
    TransientSmtpError,
)
from shared.clock import SystemClock
from shared.db import transient

log = logging.getLogger(__name__)


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Sender:
    def __init__(
        self,
        outbox: DeliveryQueue,
        transport: MailTransport,
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
        self.outbox, self.transport, self.metrics = outbox, transport, metrics
        self.worker, self.lease, self.retry_base, self.retry_cap = worker, lease, retry_base, retry_cap
        self.wall = wall or SystemClock()
        self.checkpoint = checkpoint or (lambda stage, item_id: None)
        self.rng = rng or random.Random()
        # Set on a graceful stop: the email in hand is sent and recorded, no further one started
        # (cancelled between SMTP's acceptance and the record, it would go out twice).
        self.stopping = asyncio.Event()

    async def run_once(self, limit: int = 20) -> int:
        """Send what is due; returns how many were accepted by the SMTP server."""
        claimed = await self.outbox.claim(self.worker, self.wall.now(), self.lease, limit)
        sent = 0
        for position, item in enumerate(claimed):
            if self.stopping.is_set():
                break  # the rest stay claimed until their lease ends: later, never twice
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
                untried = [i.id for i in claimed[position + 1 :]]
                await self.outbox.retry_later(item.id, self.worker, str(exc), retry_at, untried)
                break
            except PermanentSmtpError as exc:
                log.error("email %s to %s refused for good: %s", item.id, item.recipient, exc)
                self.metrics.failed.inc()
                await self.outbox.mark_failed(item.id, str(exc))
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
                await self.outbox.mark_sent(item_id, now)
                return
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("email %s sent, not yet recorded (%s); retrying in %.1fs", item_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def observe(self) -> None:
        stats = await self.outbox.stats()
        for status in (QUEUED, SENDING, SENT, FAILED):
            self.metrics.pending.labels(status).set(stats.counts.get(status, 0))
        oldest = stats.oldest_unsent
        self.metrics.oldest_unsent.set((self.wall.now() - oldest).total_seconds() if oldest else 0)
