"""The Kafka side of the projection: batches from `getmany`, offsets committed after PostgreSQL.

Plain aiokafka rather than a FastStream subscriber: the batch, its one transaction and the
offset commit stay in one visible loop. A failed offset commit (a rebalance took the partition,
the failure FastStream issue #1414 was about) is logged and counted, never retried in a loop:
whoever owns the partition next gets the records again and the inbox drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from aiokafka import ConsumerRebalanceListener
from aiokafka.partitioner import murmur2

from services.aggregator.adapters.decoding import decode, poison
from services.aggregator.adapters.metrics import AggregatorMetrics, observe_ages
from services.aggregator.service_layer.projector import Outcome, Projector
from services.aggregator.service_layer.turns import in_turns
from shared.consumers import (
    POISON_ATTEMPTS,
    STALL_SECONDS,
    ConsumerHealth,
    Failed,
    RecordGuard,
    is_outage,
    supervise,
)
from shared.kafka import make_consumer

log = logging.getLogger(__name__)
_timestamp = attrgetter("timestamp")
_POLL_MS = 20  # how often a batch being applied looks for what arrived meanwhile
# Records decoded between two turns: few, so the batch being applied resumes soon after each of
# its round trips and PostgreSQL gets its next statement, and the inbox's COPY its rows, sooner.
_DECODED_PER_YIELD = 100


def partition_of(agency: str, partitions: int) -> int:
    """The partition the default partitioner puts an agency's key on."""
    return (murmur2(agency.encode()) & 0x7FFFFFFF) % partitions


class _Listener(ConsumerRebalanceListener):
    def __init__(
        self, on_revoked: Callable[[set[int]], None], on_assigned: Callable[[set[int]], None]
    ) -> None:
        self.revoked = False
        self._on_revoked, self._on_assigned = on_revoked, on_assigned

    async def on_partitions_revoked(self, revoked):
        self.revoked = True  # the loop drops its caches before the next batch, not mid-batch
        self._on_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned):
        self.revoked = True
        self._on_assigned({tp.partition for tp in assigned})


class EventConsumer:
    def __init__(
        self,
        settings: Any,
        projector: Projector,
        clock: Any,
        metrics: AggregatorMetrics,
        on_batch: Callable[[int], None] | None = None,
        health: ConsumerHealth | None = None,
    ) -> None:
        self.settings, self.projector, self.clock, self.metrics = settings, projector, clock, metrics
        self.plans = projector.plans
        self._on_batch = on_batch  # crash-test hook
        self.health = health or ConsumerHealth(
            metrics.registry,
            "aggregator",
            "aggregator-events",
            stall_seconds=getattr(settings, "stall_seconds", STALL_SECONDS),
        )
        self.guard = RecordGuard(
            self.health,
            attempts=getattr(settings, "poison_attempts", POISON_ATTEMPTS),
            reachable=self._database_ok,
        )
        self._listener = _Listener(self._drop_lag, self._keep_positions)
        self.batches = 0
        self.force_check = asyncio.Event()
        self._lag: dict[int, int] = {}
        self._positions: dict[int, int] = {}
        self._committing: asyncio.Task | None = None  # the last batch's offset commit

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; a run that dies is logged and started again (with back-off)."""
        await supervise(lambda: self._run(stop), self.health, stop=stop)

    async def _run(self, stop: asyncio.Event) -> None:
        s = self.settings
        consumer = make_consumer(
            s.kafka_bootstrap_servers,
            group_id=s.group_id,
            max_poll_records=s.batch_size,
            max_partition_fetch_bytes=s.partition_fetch_bytes,
            fetch_max_bytes=s.fetch_bytes,
        )
        consumer.subscribe([s.events_topic], listener=self._listener)
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self.health.forget()
        self.health.set_state("running")
        next_check = 0.0
        applying = asyncio.Event()
        ahead = asyncio.create_task(self._fetch(consumer, applying))
        try:
            while not stop.is_set():
                batch, records, items = await ahead
                # what arrives while this batch's transaction runs is fetched and decoded meanwhile
                applying.set()
                ahead = asyncio.create_task(self._fetch(consumer, applying))
                try:
                    if self._listener.revoked:
                        self._listener.revoked = False
                        self.projector.forget()
                        next_check = 0.0  # new partitions: their agencies' deadlines too
                    due = time.monotonic() >= next_check or self.force_check.is_set()
                    if not records and not due:
                        continue
                    owned = self._owned_agencies(consumer) if due else []
                    applied = await self._apply(consumer, batch, records, items, owned)
                finally:
                    applying.clear()
                if applied and due:
                    self.force_check.clear()
                    next_check = time.monotonic() + s.deadline_check_seconds
                elif not applied:  # rolled back: rewind to it, and to what was fetched meanwhile
                    fetched, _, _ = await ahead
                    for rewound in (fetched, batch):  # the earlier offset of a partition is sought last
                        for tp, rs in rewound.items():
                            if rs:
                                consumer.seek(tp, rs[0].offset)
                    ahead = asyncio.create_task(self._fetch(consumer, applying))
        finally:
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead
            if self._committing is not None:
                await self._committing
            await consumer.stop()

    async def _fetch(self, consumer, applying: asyncio.Event) -> tuple[dict, list, list]:
        """The next batch: while one is being applied, whatever arrives (up to a batch), decoded as
        it comes; otherwise what is there, waiting up to the poll timeout for something, and from
        the first record on up to the batch wait for more."""
        s, plans = self.settings, self.plans
        batch: dict[Any, list] = {}
        records: list = []
        items: list = []
        first_at: float | None = None  # when the batch's first record came
        while True:
            if applying.is_set():
                wait = _POLL_MS
            elif first_at is None:
                wait = s.poll_timeout_ms
            else:
                wait = max(0, math.ceil((first_at + s.batch_wait_ms / 1000 - time.monotonic()) * 1000))
            got = await consumer.getmany(timeout_ms=wait, max_records=s.batch_size - len(records))
            for tp, rs in got.items():
                batch.setdefault(tp, []).extend(rs)
                records += rs
                if rs:
                    self.health.seen(tp.topic, tp.partition, rs[-1].offset + 1)
            if records and first_at is None:
                first_at = time.monotonic()
            async for chunk in in_turns(records[len(items) :], _DECODED_PER_YIELD):
                try:
                    items += [decode(r, plans) for r in chunk]
                except Exception:
                    items += [_decode_one(r, plans) for r in chunk]
            if len(records) >= s.batch_size:
                return batch, records, items
            if not applying.is_set() and (
                first_at is None or time.monotonic() >= first_at + s.batch_wait_ms / 1000
            ):
                return batch, records, items

    async def _apply(self, consumer, batch, records, items, owned) -> bool:
        if not records and not owned:
            return True
        started = time.perf_counter()
        try:
            try:
                outcome = await self.projector.apply(items, self.clock.now(), reevaluate=owned)
            except Exception as exc:
                if is_outage(exc) or not await self._database_ok():
                    raise
                log.exception("a record of the batch trips a bug; isolating it")
                outcome = await self._isolate(records, items)
        except Exception as exc:  # e.g. the database is away: roll back, retry (the caller rewinds)
            self.metrics.db_failures.inc()
            self.health.outage(exc)
            log.warning("batch of %d rolled back (%s); retrying", len(records), exc)
            await asyncio.sleep(0.5)
            return False
        self.batches += 1
        if self._on_batch:
            self._on_batch(self.batches)
        committed = time.time()
        # the offsets go while the next batch is applied; commits stay in order, one at a time
        self._committing = asyncio.create_task(self._commit(consumer, batch, self._committing))
        self._observe(records, outcome, started, committed)
        return True

    async def _isolate(self, records, items) -> Outcome:
        """Apply one record at a time; one that fails `poison_attempts` times goes to the
        dead-letter topic with the error, so a bug in one event's handling never stalls its
        partition. An outage (the database away) is raised: never a reason to dead-letter."""
        total = Outcome()
        for record, item in zip(records, items):
            outcome = await self.guard.attempt(record, lambda: self.projector.apply([item], self.clock.now()))  # noqa: B023 (awaited here)
            if type(outcome) is Failed:
                outcome = await self.projector.apply(
                    [poison(record, outcome.detail, reason=outcome.reason, attempts=outcome.attempts)],
                    self.clock.now(),
                )
            for name in ("applied", "duplicates", "dead_letters", "status_events"):
                setattr(total, name, getattr(total, name) + getattr(outcome, name))
            for reason, n in outcome.reasons.items():
                total.reasons[reason] = total.reasons.get(reason, 0) + n
        return total

    async def _database_ok(self) -> bool:
        return await self.projector.uow.reachable()

    async def _commit(self, consumer, batch, previous: asyncio.Task | None = None) -> None:
        if previous is not None:
            await previous
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # e.g. a rebalance took the partition; in a task, so never fatal
            self.metrics.commit_failures.inc()
            log.warning("offset commit failed (%s); the records will be redelivered and deduplicated", exc)
            return
        self._positions.update((tp.partition, o) for tp, o in offsets.items())
        for tp, o in offsets.items():
            self.health.done(tp.topic, tp.partition, o)
        self._export_lag(consumer)

    def _export_lag(self, consumer) -> None:
        """Per partition: the high watermark last seen minus the committed position."""
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                self._lag[tp.partition] = high
                self.health.high_water(tp.topic, tp.partition, high)
        for partition, high in self._lag.items():
            position = self._positions.get(partition)
            if position is not None:
                self.metrics.lag.labels(str(partition)).set(max(0, high - position))

    def _drop_lag(self, revoked: set[int]) -> None:
        """A revoked partition's lag is its next owner's to export: drop the series (the next
        batch sets it again for the partitions this replica is given back)."""
        self.health.forget((self.settings.events_topic, p) for p in revoked)
        for partition in revoked:
            self._lag.pop(partition, None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(str(partition))

    def _keep_positions(self, assigned: set[int]) -> None:
        """The committed positions of partitions this replica lost are stale if they come back."""
        for partition in set(self._positions) - assigned:
            del self._positions[partition]

    def _owned_agencies(self, consumer) -> list[str]:
        topic = self.settings.events_topic
        partitions = consumer.partitions_for_topic(topic) or set()
        mine = {tp.partition for tp in consumer.assignment() if tp.topic == topic}
        if not partitions or not mine:
            return []
        return sorted(a for a in self.plans.agency_codes if partition_of(a, len(partitions)) in mine)

    def _observe(self, records, outcome, started, committed) -> None:
        m = self.metrics
        if records:
            m.batch_size.observe(len(records))
            appended = list(map(_timestamp, records))  # Kafka's append times, in milliseconds
            m.freshness.set(max(0.0, committed - max(appended) / 1000))
            observe_ages(m.end_to_end, appended, committed)
        m.batch_seconds.observe(time.perf_counter() - started)
        m.last_commit.set(committed)
        m.applied.labels("all").inc(outcome.applied)
        m.duplicates.inc(outcome.duplicates)
        m.dead_letters.inc(outcome.dead_letters)
        for reason, n in outcome.reasons.items():
            self.health.dead_lettered(reason, n)
        m.status_events.inc(outcome.status_events)


def _decode_one(record, plans):
    try:
        return decode(record, plans)
    except Exception as exc:
        log.exception("cannot decode %s/%d@%d", record.topic, record.partition, record.offset)
        return poison(record, f"{type(exc).__name__}: {exc}", reason="undecodable")


def crash_hook(fault: str | None) -> Callable[[int], None] | None:
    """`after_db_commit:N`: SIGKILL this process right after the N-th batch's DB commit,
    before its offsets are committed (the crash tests' precise kill -9)."""
    if not fault:
        return None
    point, _, n = fault.partition(":")
    if point != "after_db_commit":
        return None

    def hook(batch: int) -> None:
        if batch >= int(n or 1):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
