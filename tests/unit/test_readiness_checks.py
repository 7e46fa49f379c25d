"""/readyz asks every registered check; an app that never runs its consumers forgets theirs."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.observability import forget_checks, mount_health_and_metrics, new_registry, register_check


async def _down() -> str:
    return "consumer not connected for 61s"


async def _up() -> None:
    return None


async def test_forgotten_checks_no_longer_decide_readiness():
    registry = new_registry()
    register_check(registry, "consumer:aggregator-events", _down)
    register_check(registry, "relay", _up)
    app = FastAPI()
    mount_health_and_metrics(app, registry, {"database": _up})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as client:
        before = await client.get("/readyz")
        forget_checks(registry, "consumer:")
        after = await client.get("/readyz")
    assert before.status_code == 503 and "consumer:aggregator-events" in before.json()["problems"]
    assert after.status_code == 200, after.text
