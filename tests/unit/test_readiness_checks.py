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


async def test_a_check_that_hangs_is_a_problem_answered_within_the_check_timeout():
    """A partitioned dependency hangs rather than refuses: /readyz still answers, 503, at once."""
    import asyncio
    import time

    from shared.observability import CHECK_TIMEOUT_S

    async def hangs() -> None:
        await asyncio.sleep(3600)

    app = FastAPI()
    mount_health_and_metrics(app, new_registry(), {"database": hangs, "relay": _up})
    started = time.monotonic()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["problems"] == {"database": f"no answer within {CHECK_TIMEOUT_S:g} s"}
    assert time.monotonic() - started < CHECK_TIMEOUT_S + 1


async def test_work_rolled_back_for_an_outage_is_not_ready_until_a_record_is_done():
    """A full disk: `SELECT 1` answers, every write fails. The consumer says so at once."""
    from shared.consumers import ConsumerHealth

    clock = [100.0]
    health = ConsumerHealth(new_registry(), "aggregator", "events", monotonic=lambda: clock[0])
    health.set_state("running")
    health.seen("events", 0, 10)
    assert await health.check() is None
    health.outage(OSError("could not extend file: No space left on device"))
    clock[0] += 4
    assert await health.check() == (
        "work rolled back for 4s, retrying: OSError: could not extend file: No space left on device"
    )
    health.done("events", 0, 10)
    assert await health.check() is None


async def test_a_batch_is_seen_up_to_its_last_record_per_partition_and_done_as_a_whole():
    from types import SimpleNamespace

    from shared.consumers import ConsumerHealth

    clock = [100.0]
    health = ConsumerHealth(new_registry(), "notifier", "status", monotonic=lambda: clock[0], stall_seconds=5)
    health.set_state("running")
    records = [SimpleNamespace(topic="s", partition=p, offset=o) for p, o in ((0, 3), (1, 7), (0, 5), (0, 4))]
    assert health.seen_batch(records) == {("s", 0): 6, ("s", 1): 8}
    clock[0] += 6
    assert sorted(health.stalled()) == [("s", 0), ("s", 1)]
    health.done_batch({("s", 0): 6, ("s", 1): 8})
    assert health.stalled() == {}
