"""The one place Kafka clients are made.

Every producer is idempotent with `acks=all` (a 202 from intake means the write is durable);
every consumer commits explicitly (never Kafka's auto-commit); topics are created explicitly
with their partition count and retention, never by auto-creation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int

    @property
    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}


# Keyed by agency: all of one agency's events stay in order on one partition.
RAW = TopicSpec("progress.raw.v1", partitions=6, retention_ms=14 * DAY_MS)
EVENTS = TopicSpec("progress.events.v1", partitions=6, retention_ms=400 * DAY_MS)
DLQ = TopicSpec("progress.dlq.v1", partitions=3, retention_ms=90 * DAY_MS)
STATUS = TopicSpec("kpi.status.v1", partitions=6, retention_ms=90 * DAY_MS)
ALL_TOPICS = (RAW, EVENTS, DLQ, STATUS)


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec] = ALL_TOPICS) -> list[str]:
    """Create the missing topics; returns the names created. Safe to run concurrently."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created = []
        for spec in missing:
            try:
                await admin.create_topics([NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        await _await_metadata(admin, [s.name for s in missing])
        return created
    finally:
        await admin.close()


async def _await_metadata(admin: AIOKafkaAdminClient, names: Sequence[str], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while names:
        described = await admin.describe_topics(list(names))
        if all(t.get("error_code", 0) == 0 and t.get("partitions") for t in described):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not ready after {timeout}s: {names}")
        await asyncio.sleep(0.2)


PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "request_timeout_ms": 10_000,
    "max_request_size": 2 * 1024 * 1024,
}


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_DEFAULTS, **overrides})


def make_consumer(bootstrap: str, *topics: str, group_id: str, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        **overrides,
    }
    if options.get("enable_auto_commit"):
        raise ValueError("auto-commit is never used: offsets are committed after the database")
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **options)
