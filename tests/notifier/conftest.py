"""Notifier fixtures: a fresh database per module on the session's PostgreSQL, unique topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.db import upgrade_async
from shared.infra import create_database, drop_database, service_database_url
from shared.kafka import DAY_MS, TopicSpec, ensure_topics


@pytest.fixture(scope="module")
async def notifier_db(database_url: str) -> AsyncIterator[str]:
    """A database of its own for this module, as the notifier's own role (no superuser, its
    schema only), migrated to head by that role."""
    url = await create_database(database_url, "notifier")
    as_notifier = service_database_url(url, "notifier")
    await upgrade_async("notifier", as_notifier)
    yield as_notifier
    await drop_database(database_url, url)


@pytest.fixture
async def status_topic(kafka_bootstrap: str) -> str:
    name = f"test.notifier.status.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name, partitions=2, retention_ms=DAY_MS)])
    return name


async def eventually(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Await until `predicate()` (sync or async) is truthy; returns its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met after {timeout}s")
        await asyncio.sleep(interval)
