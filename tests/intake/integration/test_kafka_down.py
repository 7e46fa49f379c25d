"""Kafka unreachable or gone → 503 with Retry-After, never a 202 for an event that may be lost.

Uses a broker of its own (started here) so killing it does not disturb the session's."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.examples import examples
from services.intake.entrypoints.http import create_app
from shared.infra import KafkaServer, free_port

from .conftest import NOW, make_settings, start_service


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory):
    server = KafkaServer(tmp_path_factory.mktemp("own-kafka"))
    server.start()
    yield server
    server.stop(grace=5)


def event(i: int) -> dict:
    doc = examples()["report.submitted"]
    return {**doc, "id": f"outage-{i}"}


async def test_broker_killed_then_restarted(own_kafka, intake_db):
    async for service in start_service(intake_db, own_kafka.bootstrap, INTAKE_PUBLISH_TIMEOUT_S=2.0):
        token = await service.token("CA-TINH")
        assert (await service.post(event(1), token)).status_code == 202

        await asyncio.to_thread(own_kafka.kill)
        started = time.monotonic()
        down = await service.post(event(2), token)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == str(service.settings.retry_after_s)
        assert (
            down.json()["reason"] == "kafka-unavailable"
            and "send the same event(s) again" in down.json()["detail"]
        )
        assert (
            time.monotonic() - started < 15
        )  # bounded by the 2 s publish timeout, not hanging (slack: busy CI)
        assert (await service.client.get("/readyz")).status_code == 503
        batch = await service.post_batch([event(3)], token)
        assert batch.status_code == 503  # no per-event "accepted" while nothing is durable

        await asyncio.to_thread(own_kafka.start)
        deadline = time.monotonic() + 90
        while (
            resent := await service.post(event(2), token)
        ).status_code == 503 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert resent.status_code in (200, 202), resent.text  # 200 if the first attempt got through after all
        while (await service.client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline + 30, "never ready again"
            await asyncio.sleep(0.5)


async def test_service_starts_without_kafka_and_says_so(intake_db):
    settings = make_settings(intake_db, f"127.0.0.1:{free_port()}")
    container = intake_bootstrap(settings)
    app = create_app(container)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and list(ready.json()["problems"]) == ["kafka"]
            token = await container.tokens.create("CA-TINH", NOW)
            response = await client.post(
                "/v1/events",
                json=event(9),
                headers={"authorization": f"Bearer {token}", "content-type": "application/cloudevents+json"},
            )
            assert response.status_code == 503 and "retry-after" in response.headers


async def test_readiness_names_an_unreachable_database(kafka_bootstrap):
    settings = make_settings(
        f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none",
        kafka_bootstrap,
        INTAKE_RAW_CONSUMER=False,
    )
    app = create_app(intake_bootstrap(settings))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and "postgres" in ready.json()["problems"]
