"""A moment in which the notifier's PostgreSQL refuses status events (its inbox table renamed
away): the FastStream subscriber raises, FastStream counts the exception by type, backs off and
reads the record again; once the table is back the event is applied. Run by the live test, so the
FastStream dashboard's exception series come from a real failure."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
from sqlalchemy import text

from shared.db import make_engine
from shared.events.codec import to_kafka
from shared.events.models import KpiStatusChangedEvent
from shared.kafka import make_producer
from tests.notifier.helpers import kpi_event

EXCEPTIONS = 'faststream_received_processed_messages_exceptions_total{app_name="notifier"'


def status_event(now: str) -> KpiStatusChangedEvent:
    moment = datetime.fromisoformat(now)
    return kpi_event(event_id=f"prom-refused-{uuid.uuid4().hex[:8]}", as_of=moment, deadline=moment)


async def refused_then_applied(
    database_url: str, bootstrap: str, topic: str, notifier_url: str, now: str
) -> None:
    event, engine = status_event(now), make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE notifier.inbox RENAME TO inbox_away"))
        try:
            record = to_kafka(event, key="CA-TINH")
            producer = make_producer(bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
            finally:
                await producer.stop()
            await _until(lambda: _exception_counted(notifier_url))
        finally:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE notifier.inbox_away RENAME TO inbox"))

        async def applied() -> bool:
            async with engine.connect() as conn:
                return bool(
                    await conn.scalar(
                        text("SELECT count(*) FROM notifier.inbox WHERE id = :id"), {"id": event.id}
                    )
                )

        await _until(applied)  # read again after the back-off, not skipped
    finally:
        await engine.dispose()


async def _exception_counted(notifier_url: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        return EXCEPTIONS in (await client.get(f"{notifier_url}/metrics/")).text


async def _until(probe, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {probe.__name__}"
        await asyncio.sleep(0.3)
