"""Consumes the status topic; offsets are committed only after the database transaction.

A record that cannot be decoded is logged and skipped (it would block its partition for
ever); a database failure rewinds to the record and retries, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from shared.events.codec import DecodeError, decode_status_event
from shared.kafka import make_consumer

log = logging.getLogger(__name__)
Handler = Callable[[object], Awaitable[bool]]


class StatusConsumer:
    def __init__(self, bootstrap: str, topic: str, group_id: str, handle: Handler,
                 on_poison: Callable[[], None] = lambda: None) -> None:
        self.consumer = make_consumer(bootstrap, topic, group_id=group_id, max_poll_records=200)
        self.handle = handle
        self.on_poison = on_poison
        self.started = False

    async def start(self) -> None:
        await self.consumer.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self.consumer.stop()
            self.started = False

    async def run(self) -> None:
        while True:
            await self.poll_once()

    async def poll_once(self, timeout_ms: int = 500) -> int:
        batches = await self.consumer.getmany(timeout_ms=timeout_ms)
        handled = 0
        for tp, records in batches.items():
            for record in records:
                try:
                    event = decode_status_event(record.value, record.headers or [])
                except (DecodeError, ValidationError) as exc:
                    log.error("skipping undecodable record %s@%d: %s", tp, record.offset, exc)
                    self.on_poison()
                else:
                    try:
                        await self.handle(event)
                    except Exception:
                        log.exception("status event %s@%d failed; retrying", tp, record.offset)
                        self.consumer.seek(tp, record.offset)
                        await asyncio.sleep(1.0)
                        break
                await self.consumer.commit({TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(record.offset + 1, "")})
                handled += 1
        return handled
