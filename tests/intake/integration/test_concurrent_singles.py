"""Concurrent single events share their registry round trips (adapters/coalesce.py) and each
request still gets its own, exact answer: on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg

from services.intake.entrypoints.examples import examples
from services.intake.service_layer.ports import Accepted


def report(id: str, value: int = 3) -> dict:
    doc = examples()["indicator.reported"]
    return {**doc, "id": id, "data": {**doc["data"], "value": value}}


async def test_concurrent_requests_share_round_trips_and_each_gets_its_own_answer(service):
    token = await service.token("CA-TINH")
    registry = service.container.intake.registry
    flushes: list[int] = []
    real = registry._lookups._flush

    async def counted(items):
        flushes.append(len(items))
        return await real(items)

    registry._lookups._flush = counted
    earlier = [report(f"conc-old-{i}") for i in range(10)]
    assert {(await service.post(e, token)).status_code for e in earlier} == {202}
    flushes.clear()
    fresh = [report(f"conc-new-{i}", value=i) for i in range(30)]
    resent = [report(f"conc-old-{i}") for i in range(10)]
    changed = report("conc-old-0", value=99)  # same id, other content: a duplicate that says so
    bad = report("conc-bad", value=-1)
    sent = [*fresh, *resent, changed, bad]
    answers = await asyncio.gather(*(service.post(e, token) for e in sent))
    assert sum(flushes) == len(sent) - 1 and len(flushes) < len(sent) - 1  # shared (the bad one never looks)
    assert [a.status_code for a in answers] == [202] * 30 + [200] * 11 + [422]
    assert [a.json()["id"] for a in answers[:41]] == [e["id"] for e in sent[:41]]
    assert {a.json()["status"] for a in answers[30:41]} == {"duplicate"}
    assert [a.json().get("detail") is None for a in answers[30:41]] == [True] * 10 + [False]
    records = await service.read(service.settings.events_topic, 40)
    ids = sorted(dict(r.headers)["ce_id"].decode() for r in records)
    assert ids == sorted([e["id"] for e in earlier] + [e["id"] for e in fresh])  # each once, none lost
    known = await registry.lookup("/agencies/CA-TINH", [e["id"] for e in fresh])
    assert sorted(known) == sorted(e["id"] for e in fresh)


async def test_the_same_row_recorded_by_two_callers_in_one_copy_is_one_row(service):
    registry = service.container.intake.registry
    row = Accepted("/agencies/CA-TINH", "conc-twice", "vn.gov.pcmt.indicator.reported.v1", "x", "digest")
    other = row._replace(event_id="conc-once")
    await asyncio.gather(registry.record([row]), registry.record([row, other]), registry.record([row]))
    dsn = service.settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM intake.accepted_events WHERE event_id = ANY($1)",
            ["conc-twice", "conc-once"],
        )
    finally:
        await conn.close()
    assert count == 2
