"""The status topic as a FastStream subscriber; offsets are committed only after the database
transaction.

`AckPolicy.NACK_ON_ERROR`: FastStream commits a record's offset once `handle` returned (the
notifier's transaction committed) and seeks back to it when `handle` raised (database down),
after the broker's back-off (`shared.kafka.make_broker`), so nothing is skipped and nothing
spins. A record that cannot be decoded is logged, counted and acknowledged: it would block its
partition for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from shared.events.codec import DecodeError, decode_status_event
from shared.kafka import subscriber_options

log = logging.getLogger(__name__)
Handler = Callable[[object], Awaitable[bool]]


class StatusConsumer:
    def __init__(self, broker: KafkaBroker, topic: str, group_id: str, handle: Handler,
                 on_poison: Callable[[], None] = lambda: None) -> None:
        self.broker, self.handle, self.on_poison = broker, handle, on_poison
        broker.subscriber(topic, group_id=group_id, max_poll_records=200,
                          **subscriber_options(AckPolicy.NACK_ON_ERROR))(self.on_record)

    async def start(self) -> None:
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def on_record(self, record: ConsumerRecord) -> None:
        try:
            event = decode_status_event(record.value, record.headers or [])
        except (DecodeError, ValidationError) as exc:
            log.error("skipping undecodable record %s/%d@%d: %s", record.topic, record.partition, record.offset, exc)
            self.on_poison()
        else:
            await self.handle(event)  # raises → FastStream seeks back to this record
