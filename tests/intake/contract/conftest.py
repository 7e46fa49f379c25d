"""Each of intake's ports runs the same contract twice: on the in-memory fake the use-case unit
tests use (`adapters/memory.py`) and on the real adapter (the PostgreSQL registry, the Kafka
publisher); the real runs are `infra`. `down` is either one with its server away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from services.intake.adapters.memory import MemoryPublisher, MemoryRegistry
from services.intake.adapters.publisher import EventPublisher
from services.intake.adapters.registry import EventRegistry
from shared.db import make_engine, upgrade_async
from shared.events.codec import KafkaRecord
from shared.infra import create_database, drop_database, service_database_url
from shared.kafka import TopicSpec, ensure_topics
from tests.topics import records_until

AWAY = "127.0.0.1:9"  # nothing listens there


@pytest.fixture(scope="module")
async def registry_db(database_url: str) -> AsyncIterator[str]:
    created = await create_database(database_url, "intake-contract")
    url = service_database_url(created, "intake")
    await upgrade_async("intake", url)
    yield url
    await drop_database(database_url, created)


@pytest.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.infra)])
def registry_url(request: pytest.FixtureRequest) -> str | None:
    """None for the fake, else this module's migrated intake database (as intake's role)."""
    return None if request.param == "memory" else request.getfixturevalue("registry_db")


@pytest.fixture
async def registry(registry_url: str | None) -> AsyncIterator[MemoryRegistry | EventRegistry]:
    if registry_url is None:
        yield MemoryRegistry()
        return
    engine = make_engine(registry_url)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE intake.accepted_events"))
    real = EventRegistry(engine)
    yield real
    await real.close()
    await engine.dispose()


@pytest.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.infra)])
async def registry_down(request: pytest.FixtureRequest) -> AsyncIterator[MemoryRegistry | EventRegistry]:
    if request.param == "memory":
        fake = MemoryRegistry()
        fake.down = True
        yield fake
        return
    engine = make_engine(f"postgresql+asyncpg://intake:x@{AWAY}/intake")
    real = EventRegistry(engine, timeout_s=2.0)
    yield real
    await real.close()
    await engine.dispose()


class Topic:
    """A topic of its own per test, and what was written to it, read back as a consumer would."""

    def __init__(self, name: str, publisher: MemoryPublisher | EventPublisher, bootstrap: str | None) -> None:
        self.name, self.publisher, self.bootstrap = name, publisher, bootstrap

    async def records(self, expected: int) -> list[KafkaRecord]:
        if isinstance(self.publisher, MemoryPublisher):
            return self.publisher.published(self.name)
        assert self.bootstrap is not None
        return await records_until(
            self.bootstrap,
            self.name,
            until=lambda found: len(found) >= expected,
            timeout=9,
            transform=lambda r: KafkaRecord(r.key, r.value, list(r.headers)),
        )


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.infra)])
async def topic(request: pytest.FixtureRequest) -> AsyncIterator[Topic]:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        fake = MemoryPublisher()
        await fake.start()
        yield Topic(name, fake, None)
        await fake.stop()
        return
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    await ensure_topics(bootstrap, [TopicSpec(name, 3, 3_600_000)])
    real = EventPublisher(bootstrap, timeout_s=10.0)
    await real.start()
    for _ in range(100):
        if await real.ready() is None:
            break
        await asyncio.sleep(0.1)
    yield Topic(name, real, bootstrap)
    await real.stop()


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.infra)])
async def publisher_down(request: pytest.FixtureRequest) -> AsyncIterator[MemoryPublisher | EventPublisher]:
    if request.param == "memory":
        fake = MemoryPublisher()
        await fake.start()
        fake.down = True
        yield fake
        await fake.stop()
        return
    real = EventPublisher(AWAY, timeout_s=1.0)
    await real.start()
    yield real
    await real.stop()
