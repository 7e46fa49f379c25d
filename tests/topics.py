"""Reading a topic whole, the way a test checks what was written: from each partition's first
offset to its end offset now, committed records only, without a consumer group."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import client_security


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
