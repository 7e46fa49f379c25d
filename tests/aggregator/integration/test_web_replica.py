"""`tiendo aggregator web`: the replica people reach (compose publishes it) serves the read API and
the pages with no consumer, relay or KPI gauges — ready with no broker to reach (a worker replica
is not: it creates its topics first and counts its consumers), the board behind the login."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from services.aggregator import __main__ as aggregator_main
from shared.auth.testing import bearer, jwks_file
from shared.infra.ports import free_port
from tests.aggregator.helpers import fresh_database, settings_for, unique_topics

pytestmark = pytest.mark.infra
NO_KAFKA = "127.0.0.1:9"  # nothing listens: the web replica must not need a broker


async def test_the_web_replica_serves_pages_and_reads_without_kafka(database_url, monkeypatch):
    monkeypatch.setenv("AUTH_JWKS_FILE", str(jwks_file()))  # the services' AuthSettings read it
    url = await fresh_database(database_url)
    port = free_port()
    settings = settings_for(
        NO_KAFKA,
        url,
        unique_topics("web"),
        AGGREGATOR_HTTP_PORT=port,
    )
    server = asyncio.create_task(aggregator_main.serve(settings, background=False))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(200):
                assert not server.done(), server.exception() if server.done() else ""
                try:
                    ready = await client.get("/readyz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert ready.status_code == 200, ready.text
            board = await client.get("/board", follow_redirects=False)
            assert board.status_code == 303 and "/login" in board.headers["location"]
            kpis = await client.get("/v1/kpis", headers=bearer("committee"))
            assert kpis.status_code == 200
            assert "tiendo_build_info" in (await client.get("/metrics/")).text
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
