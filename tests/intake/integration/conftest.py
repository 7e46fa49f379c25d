"""Real Kafka and PostgreSQL (the session's), a fresh database and unique topics per module."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.intake.__main__ import topic_specs
from services.intake.bootstrap import Container
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.http import create_app
from services.intake.settings import IntakeSettings
from shared.auth import AuthSettings
from shared.clock import ManualClock
from shared.db import upgrade_async
from shared.events.codec import BATCH, STRUCTURED
from shared.http_server import ServerLimits, make_server
from shared.infra import create_database, drop_database, service_database_url
from shared.kafka import client_security, ensure_topics

pytestmark = pytest.mark.infra
NOW = datetime.fromisoformat("2024-06-20T08:00:00+07:00")


class FakeMonotonic:
    """Durations (rate-limit refill, token cache) under the test's control."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
async def intake_db(database_url: str) -> AsyncIterator[str]:
    """A database of its own for each test module, migrated to head."""
    url = await create_database(database_url, "intake")
    as_intake = service_database_url(url, "intake")  # intake's own role, as in production
    await upgrade_async("intake", as_intake)
    yield as_intake
    await drop_database(database_url, url)


def make_settings(database_url: str, bootstrap: str, **overrides) -> IntakeSettings:
    tag = uuid.uuid4().hex[:8]
    values = dict(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        TIENDO_RAW_TOPIC=f"t-{tag}.raw",
        TIENDO_EVENTS_TOPIC=f"t-{tag}.events",
        TIENDO_DLQ_TOPIC=f"t-{tag}.dlq",
        INTAKE_RAW_GROUP_ID=f"intake-{tag}",
        INTAKE_PUBLISH_TIMEOUT_S=3.0,
    )
    return IntakeSettings(**{**values, **overrides})


class Service:
    """A running intake (lifespan entered) with an HTTP client and helpers."""

    def __init__(
        self,
        container: Container,
        client: httpx.AsyncClient,
        clock: ManualClock,
        monotonic: FakeMonotonic,
        app: Any = None,
    ) -> None:
        self.container, self.client, self.clock, self.monotonic = container, client, clock, monotonic
        self.app = app
        self.settings = container.settings

    async def token(self, agency: str) -> str:
        return await self.container.tokens.create(agency, NOW)

    async def post(self, event, token: str | None, content_type: str = STRUCTURED, **kw) -> httpx.Response:
        headers = {"content-type": content_type, **({"authorization": f"Bearer {token}"} if token else {})}
        if isinstance(event, (bytes, str)):
            return await self.client.post("/v1/events", content=event, headers=headers, **kw)
        return await self.client.post("/v1/events", json=event, headers=headers, **kw)

    async def post_batch(self, events, token: str, content_type: str = BATCH) -> httpx.Response:
        headers = {"content-type": content_type, "authorization": f"Bearer {token}"}
        return await self.client.post("/v1/events/batch", json=events, headers=headers)

    async def read(self, topic: str, n: int, timeout: float = 15.0) -> list:
        """The first `n` records of a topic (all partitions), from the beginning."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            **client_security(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=f"reader-{uuid.uuid4().hex[:6]}",
        )
        await consumer.start()
        records: list = []
        try:
            deadline = datetime.now() + timedelta(seconds=timeout)
            while len(records) < n and datetime.now() < deadline:
                for batch in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(batch)
        finally:
            await consumer.stop()
        return records


async def start_service(
    database_url: str, bootstrap: str, auth: AuthSettings | None = None, **overrides
) -> AsyncIterator[Service]:
    settings = make_settings(database_url, bootstrap, **overrides)
    await ensure_topics(bootstrap, topic_specs(settings))
    clock, monotonic = ManualClock(NOW), FakeMonotonic()
    container = intake_bootstrap(settings, clock=clock, monotonic=monotonic, auth=auth)
    app = create_app(container)
    async with app.router.lifespan_context(app):
        await _until_ready(container)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # as a server would
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield Service(container, client, clock, monotonic, app)


@contextlib.asynccontextmanager
async def served_on_loopback(
    container: Container, settings: IntakeSettings, patience: float = 10.0
) -> AsyncIterator[tuple[str, int]]:
    """Intake as a real server (`shared.http_server`, its limits from `settings`) on a free
    loopback port, ready: yields (host, port); stopped on leaving."""
    import asyncio
    import time

    server = make_server(
        create_app(container),
        host="127.0.0.1",
        port=0,
        limits=ServerLimits.of(settings),
        lifespan="on",
        log_level="warning",
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + patience
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.05)
    await _until_ready(container)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield host, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, patience)


async def _until_ready(container: Container, timeout: float = 20.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (reason := await container.publisher.ready()) is not None:
        if loop.time() > deadline:
            raise TimeoutError(f"intake not ready: {reason}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def service(intake_db: str, kafka_bootstrap: str) -> AsyncIterator[Service]:
    async for s in start_service(intake_db, kafka_bootstrap):
        yield s


def counting(monkeypatch, obj, name: str) -> list:
    """The calls of the coroutine method `obj.name` from now on, recorded as they are made."""
    real, calls = getattr(obj, name), []

    async def wrapper(*args):
        calls.append(args)
        return await real(*args)

    monkeypatch.setattr(obj, name, wrapper)
    return calls
