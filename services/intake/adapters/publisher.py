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

from services.intake.service_layer.ports import KafkaUnavailable
from shared.events.codec import KafkaRecord
from shared.kafka import make_producer

log = logging.getLogger(__name__)
_PARTITIONER = DefaultPartitioner()  # what AIOKafkaProducer.send() uses for keyed records


# One agency's events share a partition (keyed by agency), and an idempotent producer keeps few
# requests in flight per partition: bigger batches, not more of them, carry a burst. 1 MiB
# batches took a raw aiokafka producer from ~4k to ~11k events/s on one partition here.
PRODUCER_OVERRIDES = {"max_batch_size": 1024 * 1024}


class EventPublisher:
    """`service_layer.ports.EventPublisher` on Kafka (aiokafka, see `write_batches`)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout_s: float = 5.0,
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._bootstrap = bootstrap
        self._timeout = timeout_s
        self._observe = observe
        self._producer: AIOKafkaProducer | None = None
        self._starting: asyncio.Task | None = None
        self._stopping: asyncio.Task | None = None
        self._lanes: dict[tuple[str, int], _Lane] = {}

    async def start(self) -> None:
        """Connect in the background: the service must come up (and say "not ready") without Kafka."""
        self._starting = asyncio.create_task(self._connect(), name="intake-producer-connect")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            producer = make_producer(self._bootstrap, **PRODUCER_OVERRIDES)
            try:
                await producer.start()
            except Exception as exc:
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
            async with asyncio.timeout(self._timeout):  # not wait_for: no task of its own per request
                await self._send_all(producer, topic, records)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self._timeout:g}s") from None
        except KafkaError as exc:
            if not getattr(exc, "retriable", False):
                await self._replace(producer)  # e.g. a fenced/out-of-sequence idempotent producer
            raise KafkaUnavailable(f"Kafka refused the write: {type(exc).__name__}") from exc
        self._observe(time.perf_counter() - started)

    async def _send_all(self, producer: AIOKafkaProducer, topic: str, records: Sequence[KafkaRecord]) -> None:
        """The records of a request share their key (the agency), hence their partition: each
        partition's share joins that partition's lane. Same partitioner as `send()`."""
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[KafkaRecord]] = {}
        partition_of: dict[bytes | None, int] = {}  # one hash per agency, not per record
        for r in records:
            if r.key not in partition_of:
                partition_of[r.key] = _PARTITIONER(r.key, partitions, partitions)
            by_partition.setdefault(partition_of[r.key], []).append(r)
        if len(by_partition) == 1:  # one agency's request: no gather (a future and a callback less)
            [(partition, group)] = by_partition.items()
            await self._lane(producer, topic, partition).add(group)
            return
        await asyncio.gather(
            *(self._lane(producer, topic, p).add(group) for p, group in by_partition.items())
        )

    def _lane(self, producer: AIOKafkaProducer, topic: str, partition: int) -> _Lane:
        lane = self._lanes.get((topic, partition))
        if lane is None or lane.producer is not producer:
            lane = self._lanes[(topic, partition)] = _Lane(producer, topic, partition)
        return lane

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        if self._producer is broken:
            self._producer = None
            self._stopping = asyncio.create_task(broken.stop())  # kept: a task nobody holds may be collected
            self._starting = asyncio.create_task(self._connect(), name="intake-producer-reconnect")

    async def ready(self) -> str | None:
        """None if Kafka answers a metadata request now, else why not."""
        producer = self._producer
        if producer is None:
            return "producer not connected"
        try:
            metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), 2.0)
        except (TimeoutError, KafkaError) as exc:
            return f"Kafka unreachable: {type(exc).__name__}"
        return None if metadata.brokers() else "Kafka has no brokers"


class _Lane:
    """One partition's writes. aiokafka holds one produce request in flight per broker and
    queues one batch per partition behind it: with a batch per request, concurrent requests
    waited for each other's round trips in turn. Requests that arrive while the lane waits for
    the producer share the next batch instead (group commit); each is answered when the
    batches holding its records are acknowledged."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int) -> None:
        self.producer, self.topic, self.partition = producer, topic, partition
        self._waiting: list[tuple[Sequence[KafkaRecord], asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    def add(self, records: Sequence[KafkaRecord]) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((records, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=f"intake-lane-{self.topic}-{self.partition}")
        return done

    async def _drain(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            try:
                deliveries = await write_batches(
                    self.producer, self.topic, self.partition, [r for records, _ in taken for r in records]
                )
            except Exception as exc:
                _settle(taken, exc)
                continue
            asyncio.gather(*deliveries).add_done_callback(
                lambda acked, taken=taken: _settle(taken, _error(acked))
            )


def _error(acked: asyncio.Future) -> BaseException | None:
    error = asyncio.CancelledError() if acked.cancelled() else acked.exception()
    return (
        KafkaUnavailable("the producer dropped the write (stopping)")
        if isinstance(error, asyncio.CancelledError)
        else error
    )


def _settle(taken: list[tuple[Sequence[KafkaRecord], asyncio.Future]], error: BaseException | None) -> None:
    for _, done in taken:
        if done.done():  # its request gave up waiting (timeout)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


# Not FastStream's publish_batch: 0.7 gives a batch one header set; binary CloudEvents need per-record ce_* headers.
async def write_batches(
    producer: AIOKafkaProducer, topic: str, partition: int, records: Sequence[KafkaRecord]
) -> list[asyncio.Future]:
    """Producer batches instead of one `send()` per record (which cost more CPU than validating
    the event), same idempotence; returns their delivery futures."""
    deliveries = []
    batch = producer.create_batch()
    for r in records:
        if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))  # full
            batch = producer.create_batch()
            batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
    batch.close()  # complete: sent at once, not after the producer's linger (5 ms for send())
    deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    return deliveries
