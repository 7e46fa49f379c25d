"""Reading a topic the way a test checks what was written: whole, from each partition's first
offset to its end offset now, committed records only, without a consumer group (`read_topic`);
or until what came satisfies the test (`records_until`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import client_security, make_consumer


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every committed record of `topic` now (the tests' client is the admin: tests/conftest.py)."""

    async def go() -> list[Any]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **client_security(),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:  # the consumer's metadata may predate the topic
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            parts = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            out: list[Any] = []
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    out += records
            return out
        finally:
            await consumer.stop()

    return asyncio.run(go())


async def records_until(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 15.0,
    settle: float = 0.0,
    keep: Callable[[Any], bool] = lambda record: True,
    transform: Callable[[Any], Any] = lambda record: record,
) -> list[Any]:
    """The topic's records from its start, those `keep` keeps as `transform` makes them, read by a
    consumer of its own group: once `until(items)` holds (then `settle` seconds more, so that a
    late duplicate would show), or when `timeout` runs out with what came by then."""
    consumer = make_consumer(bootstrap, topic, group_id=f"reader-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    items: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline, settled = loop.time() + timeout, None
        while loop.time() < deadline and (settled is None or loop.time() < settled):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                items += [transform(r) for r in batch if keep(r)]
            if settled is None and until(items):
                if not settle:
                    break
                settled = loop.time() + settle
    finally:
        await consumer.stop()
    return items
