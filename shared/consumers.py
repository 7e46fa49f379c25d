"""Poison-proof consumers: the one mechanism every service's Kafka consumer uses.

- `RecordGuard.attempt` runs the work of ONE record: an outage (database or broker away) is
  raised for the consumer's own retry-with-back-off, never counted against the record; any
  other exception is logged with the record's topic/partition/offset and retried in place, and
  after `attempts` failures the caller gets a `Failed` to dead-letter (`RecordGuard.letter`,
  the one format of `shared.deadletter`) instead of retrying for ever.
- `supervise` keeps a consumer's task alive: a run that dies is logged and started again with
  back-off.
- `ConsumerHealth` is what `/readyz` and Prometheus say about it: running or not, partitions
  with records waiting and no progress for `stall_seconds`, dead letters written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError
from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.db import systemic, transient
from shared.deadletter import PROCESSING_FAILED, clean_text, dead_letter, origin_of
from shared.events.codec import KafkaRecord
from shared.observability import register_check

log = logging.getLogger(__name__)
T = TypeVar("T")
STALL_SECONDS = 30.0  # /readyz and the alert show a stalled partition within a minute
POISON_ATTEMPTS = 3


def is_outage(exc: BaseException) -> bool:
    """The database or the broker is away, or the database fails whatever the record holds
    (worth retrying, never the record's fault)."""
    if transient(exc) or systemic(exc):
        return True
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False)) or isinstance(
            exc, (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)
        )
    return False


async def engine_answers(engine: Any, timeout: float = 2.0) -> bool:
    """Whether PostgreSQL answers `SELECT 1` through `engine` within `timeout` seconds."""
    from sqlalchemy import text

    async def ping() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(ping(), timeout)
        return True
    except Exception:
        return False


# -- health ----------------------------------------------------------------------------------
_FAMILIES: WeakKeyDictionary[CollectorRegistry, dict[str, Any]] = WeakKeyDictionary()


def _families(registry: CollectorRegistry) -> dict[str, Any]:
    """One set of families per registry (a service may have several consumers)."""
    families = _FAMILIES.get(registry)
    if families is None:
        families = _FAMILIES[registry] = {
            "up": Gauge(
                "tiendo_consumer_up",
                "1 while the consumer's task runs and is connected, else 0",
                ["consumer"],
                registry=registry,
            ),
            "restarts": Counter(
                "tiendo_consumer_restarts_total",
                "Times a consumer's task died and was restarted",
                ["consumer"],
                registry=registry,
            ),
            "stalled": Gauge(
                "tiendo_consumer_stalled_partitions",
                "Partitions with records waiting and no committed progress for the stall time",
                ["consumer"],
                registry=registry,
            ),
            "dlq": Counter(
                "tiendo_dlq_writes_total",
                "Records sent to the dead-letter topic",
                ["service", "reason"],
                registry=registry,
            ),
            "failures": Counter(
                "tiendo_record_failures_total",
                "Attempts at one record that failed (not counting outages)",
                ["consumer"],
                registry=registry,
            ),
        }
    return families


@dataclass
class _Partition:
    pending: int = 0  # the offset after the last record seen
    done: int = 0  # the offset after the last record committed
    since: float = 0.0  # when `done` last moved (or the partition was first seen)


class ConsumerHealth:
    """Health of one consumer; registers its readiness check on the service's registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        service: str,
        name: str,
        *,
        stall_seconds: float = STALL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service, self.name, self.stall_seconds, self._now = service, name, stall_seconds, monotonic
        self.state = "starting"  # starting | running | restarting | stopped
        self.last_error: str | None = None
        self._since = monotonic()  # when `state` last changed
        self._outage_since: float | None = None  # work rolled back for an outage, none done since
        self._partitions: dict[tuple[str, int], _Partition] = {}
        families = _families(registry)
        self._restarts = families["restarts"].labels(name)
        self._dlq = families["dlq"]
        self._failures = families["failures"].labels(name)
        families["up"].labels(name).set_function(lambda: 1.0 if self.state == "running" else 0.0)
        families["stalled"].labels(name).set_function(lambda: float(len(self.stalled())))
        register_check(registry, f"consumer:{name}", self.check)

    # lifecycle (the supervisor and the consumer's connection)
    def set_state(self, state: str, error: str | None = None) -> None:
        if state != self.state:
            self.state, self._since = state, self._now()
        if error is not None:
            self.last_error = clean_text(error, 300)

    def outage(self, error: BaseException) -> None:
        """Work was rolled back because a dependency is away or refuses every record (e.g. a full
        disk, while `SELECT 1` still answers): not ready until a record is done again."""
        if self._outage_since is None:
            self._outage_since = self._now()
        self.last_error = clean_text(f"{type(error).__name__}: {error}", 300)

    def restarted(self, error: BaseException) -> None:
        self._restarts.inc()
        self.set_state("restarting", f"{type(error).__name__}: {error}")

    # progress, per partition
    def seen(self, topic: str, partition: int, next_offset: int) -> None:
        """Records up to `next_offset` (exclusive) have arrived and wait to be committed."""
        p = self._partitions.get((topic, partition))
        if p is None:
            p = self._partitions[(topic, partition)] = _Partition(
                next_offset - 1, next_offset - 1, self._now()
            )
        if p.pending == p.done:  # it was caught up: the wait starts now
            p.since = self._now()
        p.pending = max(p.pending, next_offset)

    def seen_batch(self, records: Iterable[Any]) -> dict[tuple[str, int], int]:
        """`seen` for a fetched batch of records; the next offset of each of its partitions."""
        ends: dict[tuple[str, int], int] = {}
        for r in records:
            ends[(r.topic, r.partition)] = max(ends.get((r.topic, r.partition), 0), r.offset + 1)
        for (topic, partition), end in ends.items():
            self.seen(topic, partition, end)
        return ends

    def done_batch(self, ends: dict[tuple[str, int], int]) -> None:
        """`done` for every partition of a batch `seen_batch` returned."""
        for (topic, partition), end in ends.items():
            self.done(topic, partition, end)

    def done(self, topic: str, partition: int, next_offset: int) -> None:
        """Records up to `next_offset` (exclusive) are committed (handled or dead-lettered)."""
        self._outage_since = None
        p = self._partitions.setdefault((topic, partition), _Partition(next_offset, next_offset, self._now()))
        if next_offset > p.done:
            p.done, p.since = next_offset, self._now()
        p.pending = max(p.pending, p.done)

    def high_water(self, topic: str, partition: int, high: int | None) -> None:
        """The broker's high watermark: records not fetched yet are waiting too."""
        if high is not None and (topic, partition) in self._partitions:
            self.seen(topic, partition, high)

    def forget(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Partitions this consumer no longer owns (a rebalance); all of them when None."""
        if partitions is None:
            self._partitions.clear()
            self._outage_since = None
        for key in partitions or ():
            self._partitions.pop(key, None)

    def stalled(self) -> dict[tuple[str, int], tuple[int, float]]:
        """(topic, partition) → (records waiting, seconds without progress), past the stall time."""
        now = self._now()
        return {
            k: (p.pending - p.done, now - p.since)
            for k, p in self._partitions.items()
            if p.pending > p.done and now - p.since >= self.stall_seconds
        }

    def dead_lettered(self, reason: str, n: int = 1) -> None:
        self._dlq.labels(self.service, reason).inc(n)

    def failed_attempt(self) -> None:
        self._failures.inc()

    async def check(self) -> str | None:
        """The readiness verdict: None when running and no partition is stalled."""
        down_for = self._now() - self._since
        if self.state == "restarting" or self.state == "stopped":
            return f"consumer {self.state} for {down_for:.0f}s (last error: {self.last_error})"
        if self.state == "starting" and down_for >= self.stall_seconds:
            return f"consumer not connected for {down_for:.0f}s" + (
                f" (last error: {self.last_error})" if self.last_error else ""
            )
        problems = []
        if self._outage_since is not None:
            rolled_back = self._now() - self._outage_since
            problems.append(f"work rolled back for {rolled_back:.0f}s, retrying: {self.last_error}")
        stalled = self.stalled()
        if stalled:
            problems.append(
                "stalled: "
                + ", ".join(
                    f"{t}/{p} ({n} waiting, no progress for {s:.0f}s)"
                    for (t, p), (n, s) in sorted(stalled.items())
                )
            )
        return "; ".join(problems) or None


# -- supervision -----------------------------------------------------------------------------
async def supervise(
    run: Callable[[], Awaitable[Any]],
    health: ConsumerHealth,
    *,
    stop: asyncio.Event | None = None,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    healthy_after: float = 60.0,
) -> None:
    """Run `run()` until `stop` is set (or cancelled); a run that raises or returns early is
    logged and started again after a back-off that doubles up to `max_backoff` (back to
    `backoff` once a run lasted `healthy_after` seconds)."""
    delay = backoff
    while True:
        started = time.monotonic()
        health.set_state("starting")
        try:
            await run()
        except asyncio.CancelledError:
            health.set_state("stopped")
            raise
        except Exception as exc:
            if stop is not None and stop.is_set():
                health.set_state("stopped")
                return
            log.exception("consumer %s died; restarting in %.1fs", health.name, delay)
            health.restarted(exc)
        else:
            if stop is None or stop.is_set():
                health.set_state("stopped")
                return
            log.error("consumer %s returned while it should run; restarting in %.1fs", health.name, delay)
            health.restarted(RuntimeError("returned early"))
        if time.monotonic() - started >= healthy_after:
            delay = backoff
        if stop is not None:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                health.set_state("stopped")
                return
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(delay)
        delay = min(delay * 2, max_backoff)


# -- one record at a time --------------------------------------------------------------------
@dataclass(frozen=True)
class Failed:
    """A record whose work failed `attempts` times for a reason other than an outage."""

    error: BaseException
    attempts: int
    reason: str = PROCESSING_FAILED

    @property
    def detail(self) -> str:
        cause = self.error.__cause__
        return clean_text(
            f"{type(self.error).__name__}: {self.error}"
            + (f" (from {type(cause).__name__})" if cause is not None else "")
        )


class RecordGuard:
    """Runs one record's work under the poison rules (see module doc)."""

    def __init__(
        self,
        health: ConsumerHealth,
        *,
        attempts: int = POISON_ATTEMPTS,
        retry_delay: float = 0.2,
        outage: Callable[[BaseException], bool] = is_outage,
        reachable: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.health, self.attempts, self.retry_delay = health, max(1, attempts), retry_delay
        self._outage, self._reachable = outage, reachable

    async def is_outage(self, exc: BaseException) -> bool:
        """An outage by its type, or because the database does not answer right now."""
        if self._outage(exc):
            return True
        if self._reachable is None:
            return False
        try:
            return not await self._reachable()
        except Exception:
            return True

    async def attempt(
        self, record: Any, work: Callable[[], Awaitable[T]], *, attempts: int | None = None
    ) -> T | Failed:
        """`work()`'s result, or `Failed` after `attempts` failures; an outage is raised."""
        attempts = self.attempts if attempts is None else max(1, attempts)
        for n in range(1, attempts + 1):
            try:
                return await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if await self.is_outage(exc):
                    self.health.outage(exc)
                    raise
                self.health.failed_attempt()
                log.warning(
                    "%s: record %s failed (attempt %d of %d): %s",
                    self.health.name,
                    origin_of(record),
                    n,
                    attempts,
                    clean_text(f"{type(exc).__name__}: {exc}", 500),
                    exc_info=n == attempts,
                )
                if n == attempts:
                    return Failed(exc, attempts)
                await asyncio.sleep(self.retry_delay * 2 ** (n - 1))
        raise AssertionError("unreachable")

    def letter(
        self, record: Any, reason: str, detail: Any, *, attempts: int = 1, errors: Any = None, now: Any = None
    ) -> KafkaRecord:
        """The dead letter of a consumed record, in the one format."""
        return dead_letter(
            getattr(record, "key", None),
            getattr(record, "value", None),
            getattr(record, "headers", None),
            origin=origin_of(record),
            service=self.health.service,
            reason=reason,
            detail=detail,
            attempts=attempts,
            errors=errors,
            now=now,
        )
