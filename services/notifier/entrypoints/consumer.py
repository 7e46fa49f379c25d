"""The status topic as a FastStream subscriber; offsets are committed only after the database
transaction.

`AckPolicy.NACK_ON_ERROR`: FastStream commits a record's offset once `on_record` returned (the
notifier's transaction committed, or the record was dead-lettered) and seeks back to it when it
raised (database or Kafka away), after the broker's back-off (`shared.kafka.make_broker`), so
nothing is skipped and nothing spins. Each record runs under `shared.consumers.RecordGuard`: one
that cannot be decoded is dead-lettered at once, one whose handling keeps failing for another
reason than an outage is dead-lettered after the attempts, so no record stalls its partition.

Only the aggregator's principal may write the status topic (docs/security.md, "Kafka"); still, a
status event whose `source` is not the aggregator's is refused (dead-lettered as `wrong-source`),
so a record that reached the topic another way (a compromised admin path) alerts nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry

from shared.consumers import ConsumerHealth, Failed, RecordGuard, supervise
from shared.deadletter import UNDECODABLE, origin_of
from shared.events.codec import decode_status_event
from shared.events.models import AGGREGATOR_SOURCE
from shared.kafka import DLQ, TopicSpec, ensure_topics, raw_headers, serve, subscriber_options

log = logging.getLogger(__name__)
WRONG_SOURCE = "wrong-source"
Handler = Callable[[object], Awaitable[bool]]


class StatusConsumer:
    def __init__(
        self,
        broker: KafkaBroker,
        topic: str,
        group_id: str,
        handle: Handler,
        on_poison: Callable[[], None] = lambda: None,
        *,
        dlq_topic: str = DLQ.name,
        health: ConsumerHealth | None = None,
        attempts: int = 3,
        reachable: Callable[[], Awaitable[bool]] | None = None,
        bootstrap: str | None = None,
    ) -> None:
        self.broker, self.handle, self.on_poison, self.dlq_topic = broker, handle, on_poison, dlq_topic
        self._bootstrap = bootstrap
        self.health = health or ConsumerHealth(CollectorRegistry(), "notifier", "notifier-status")
        self.guard = RecordGuard(self.health, attempts=attempts, reachable=reachable)
        broker.subscriber(
            topic, group_id=group_id, max_poll_records=200, **subscriber_options(AckPolicy.NACK_ON_ERROR)
        )(self.on_record)

    async def start(self) -> None:
        await self._ensure_dlq()
        await self.broker.start()
        self.health.set_state("running")

    async def stop(self) -> None:
        await self.broker.stop()

    async def run(self) -> None:
        """Serve until cancelled; a run that dies is logged and started again with back-off."""

        async def once() -> None:
            await self._ensure_dlq()
            await serve(self.broker, on_started=lambda: self.health.set_state("running"))

        await supervise(once, self.health)

    async def _ensure_dlq(self) -> None:
        if self._bootstrap:
            await ensure_topics(
                self._bootstrap, [TopicSpec(self.dlq_topic, DLQ.partitions, DLQ.retention_ms)]
            )

    async def on_record(self, record: ConsumerRecord) -> None:
        self.health.seen(record.topic, record.partition, record.offset + 1)
        try:
            event = decode_status_event(record.value, record.headers or [])
        except Exception as exc:
            log.error("dead-lettering undecodable record %s: %s", origin_of(record), exc)
            await self._dead_letter(record, UNDECODABLE, f"{type(exc).__name__}: {exc}", 1)
            self.on_poison()
        else:
            if event.source != AGGREGATOR_SOURCE:
                log.error("dead-lettering status event %s from %r", origin_of(record), event.source)
                detail = f"status events come from {AGGREGATOR_SOURCE}; this one says {event.source!r}"
                await self._dead_letter(record, WRONG_SOURCE, detail, 1)
                self.health.done(record.topic, record.partition, record.offset + 1)
                return
            result = await self.guard.attempt(record, lambda: self.handle(event))  # an outage raises
            if isinstance(result, Failed):
                await self._dead_letter(record, result.reason, result.detail, result.attempts)
        self.health.done(record.topic, record.partition, record.offset + 1)

    async def _dead_letter(self, record: ConsumerRecord, reason: str, detail: str, attempts: int) -> None:
        letter = self.guard.letter(record, reason, detail, attempts=attempts)
        await self.broker.publish(
            letter.value, self.dlq_topic, key=letter.key, headers=raw_headers(letter.headers)
        )
        self.health.dead_lettered(reason)
