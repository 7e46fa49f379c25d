"""The status topic as a FastStream batch subscriber; offsets are committed only after the database
transaction.

`AckPolicy.NACK_ON_ERROR`: FastStream commits a batch's offsets once `on_batch` returned (the
notifier's transaction committed, poison records dead-lettered) and, when it raised (database or
Kafka away), seeks every partition of the batch back to its earliest record after the broker's
back-off (`shared.kafka.make_broker`), so nothing is skipped and nothing spins.

A batch is one transaction of `Notifier.handle_many`: a burst of status changes (a deadline
passing for every agency) re-plans each leader's digest once per batch, not once per event. A
batch that fails for another reason than an outage is handled one record at a time under
`shared.consumers.RecordGuard`: a record that keeps failing is dead-lettered after the attempts,
one that cannot be decoded at once, and the rest flow on. A record is dead-lettered once: its
position is recorded with the letter (`Notifier.dead_letter_once`), so a batch read again after
an outage does not letter it twice.

Only the aggregator's principal may write the status topic (docs/security.md, "Kafka"); still, a
status event whose `source` is not the aggregator's is refused (dead-lettered as `wrong-source`),
so a record that reached the topic another way (a compromised admin path) alerts nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

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
Handler = Callable[[Sequence[object]], Awaitable[int]]  # events → how many were applied
DeadLetterOnce = Callable[[str, Callable[[], Awaitable[None]]], Awaitable[bool]]


@dataclass(frozen=True)
class _Refused:
    reason: str
    detail: str


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
        dead_letter_once: DeadLetterOnce | None = None,
        max_records: int = 500,
    ) -> None:
        self.broker, self.handle, self.on_poison, self.dlq_topic = broker, handle, on_poison, dlq_topic
        self._bootstrap = bootstrap
        self._once = dead_letter_once or _always
        self._lettered: set[str] = set()  # positions of this batch already dead-lettered
        self.health = health or ConsumerHealth(CollectorRegistry(), "notifier", "notifier-status")
        self.guard = RecordGuard(self.health, attempts=attempts, reachable=reachable)
        broker.subscriber(
            topic,
            group_id=group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=200,
            **subscriber_options(AckPolicy.NACK_ON_ERROR),
        )(self.on_batch)

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

    async def on_batch(self, records: tuple[ConsumerRecord, ...]) -> None:
        ends = self.health.seen_batch(records)
        # a batch read again after an outage skips what its first reading dead-lettered
        read = [(r, self._read(r)) for r in records if origin_of(r) not in self._lettered]
        events = [e for _, e in read if not isinstance(e, _Refused)]
        try:
            await self.handle(events)
        except Exception as exc:
            if await self.guard.is_outage(exc):
                self.health.outage(exc)
                raise  # FastStream nacks: the batch is read again after the broker's back-off
            log.exception("status batch of %d failed; handling its records one by one", len(events))
            await self._one_by_one(read)
        else:
            for record, refused in read:
                if isinstance(refused, _Refused):
                    await self._refuse(record, refused)
        self._lettered.clear()
        self.health.done_batch(ends)

    def _read(self, record: ConsumerRecord) -> object:
        """The status event of `record`, or why it is refused."""
        try:
            event = decode_status_event(record.value, record.headers or [])
        except Exception as exc:
            return _Refused(UNDECODABLE, f"{type(exc).__name__}: {exc}")
        if event.source != AGGREGATOR_SOURCE:
            return _Refused(
                WRONG_SOURCE, f"status events come from {AGGREGATOR_SOURCE}; this one says {event.source!r}"
            )
        return event

    async def _one_by_one(self, read: list[tuple[ConsumerRecord, object]]) -> None:
        for record, event in read:
            if isinstance(event, _Refused):
                await self._refuse(record, event)
                continue
            result = await self.guard.attempt(record, lambda: self.handle([event]))  # noqa: B023 (awaited here); an outage raises
            if isinstance(result, Failed):
                await self._dead_letter(record, result.reason, result.detail, result.attempts)

    async def _refuse(self, record: ConsumerRecord, refused: _Refused) -> None:
        log.error(
            "dead-lettering status record %s (%s): %s", origin_of(record), refused.reason, refused.detail
        )
        if (
            await self._dead_letter(record, refused.reason, refused.detail, 1)
            and refused.reason == UNDECODABLE
        ):
            self.on_poison()

    async def _dead_letter(self, record: ConsumerRecord, reason: str, detail: str, attempts: int) -> bool:
        letter = self.guard.letter(record, reason, detail, attempts=attempts)

        async def publish() -> None:
            await self.broker.publish(
                letter.value, self.dlq_topic, key=letter.key, headers=raw_headers(letter.headers)
            )

        lettered = await self._once(origin_of(record), publish)
        self._lettered.add(origin_of(record))
        if lettered:
            self.health.dead_lettered(reason)
        return lettered


async def _always(position: str, publish: Callable[[], Awaitable[None]]) -> bool:
    await publish()
    return True
