"""Durable writes to Kafka: idempotent producer, `acks=all`, bounded waiting.

`publish` returns only once Kafka acknowledged every record; past `timeout_s` (broker down or
slow) it raises `KafkaUnavailable` and the caller answers 503: never a 202 for an event that
may be lost. A record that did reach Kafka anyway is harmless: the client retries, and the
`(source, id)` key makes the copy a duplicate downstream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from shared.events.codec import KafkaRecord
from shared.kafka import make_producer

log = logging.getLogger(__name__)
_PARTITIONER = DefaultPartitioner()  # what AIOKafkaProducer.send() uses for keyed records


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time; nothing may be reported as accepted."""


# One agency's events share a partition (keyed by agency), and an idempotent producer keeps few
# requests in flight per partition: bigger batches, not more of them, carry a burst. 1 MiB
# batches took a raw aiokafka producer from ~4k to ~11k events/s on one partition here.
PRODUCER_OVERRIDES = {"max_batch_size": 1024 * 1024}


class EventPublisher:
    def __init__(self, bootstrap: str, *, timeout_s: float = 5.0,
                 observe: Callable[[float], None] = lambda seconds: None) -> None:
        self._bootstrap = bootstrap
        self._timeout = timeout_s
        self._observe = observe
        self._producer: AIOKafkaProducer | None = None
        self._starting: asyncio.Task | None = None

    async def start(self) -> None:
        """Connect in the background: the service must come up (and say "not ready") without Kafka."""
        self._starting = asyncio.create_task(self._connect(), name="intake-producer-connect")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            producer = make_producer(self._bootstrap, **PRODUCER_OVERRIDES)
            try:
                await producer.start()
            except Exception as exc:  # noqa: BLE001 - any failure means "try again"
                await producer.stop()
                log.warning("Kafka producer cannot connect (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            return

    async def stop(self) -> None:
        if self._starting and not self._starting.done():
            self._starting.cancel()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, topic: str, records: Sequence[KafkaRecord]) -> None:
        producer = self._producer
        if producer is None:
            raise KafkaUnavailable("not connected to Kafka yet")
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._send_all(producer, topic, records), self._timeout)
        except asyncio.TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self._timeout:g}s") from None
        except KafkaError as exc:
            if not getattr(exc, "retriable", False):
                await self._replace(producer)  # e.g. a fenced/out-of-sequence idempotent producer
            raise KafkaUnavailable(f"Kafka refused the write: {type(exc).__name__}") from exc
        self._observe(time.perf_counter() - started)

    # Not FastStream's publish_batch: 0.7 gives a batch one header set; binary CloudEvents need per-record ce_* headers.
    @staticmethod
    async def _send_all(producer: AIOKafkaProducer, topic: str, records: Sequence[KafkaRecord]) -> None:
        """One producer batch per partition instead of one `send()` per record: the records of a
        request share their key (the agency), hence their partition, and per-record `send()`
        cost more CPU than validating the event. Same partitioner as `send()`, same idempotence."""
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[KafkaRecord]] = {}
        partition_of: dict[bytes | None, int] = {}  # one hash per agency, not per record
        for r in records:
            if r.key not in partition_of:
                partition_of[r.key] = _PARTITIONER(r.key, partitions, partitions)
            by_partition.setdefault(partition_of[r.key], []).append(r)
        pending = []
        for partition, group in by_partition.items():
            batch = producer.create_batch()
            for r in group:
                if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:
                    pending.append(await producer.send_batch(batch, topic, partition=partition))  # full
                    batch = producer.create_batch()
                    batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        if self._producer is broken:
            self._producer = None
            asyncio.create_task(broken.stop())
            self._starting = asyncio.create_task(self._connect(), name="intake-producer-reconnect")

    async def ready(self) -> str | None:
        """None if Kafka answers a metadata request now, else why not."""
        producer = self._producer
        if producer is None:
            return "producer not connected"
        try:
            metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
        except (asyncio.TimeoutError, KafkaError) as exc:
            return f"Kafka unreachable: {type(exc).__name__}"
        return None if metadata.brokers() else "Kafka has no brokers"
