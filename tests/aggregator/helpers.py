"""Test helpers: events, a fresh database per module, an in-process aggregator."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.clock import ManualClock
from shared.db import upgrade_async
from shared.events.codec import decode_status_event, to_kafka
from shared.events.models import agency_event_adapter
from shared.infra import create_database, service_database_url
from shared.kafka import (
    TopicSpec,
    client_security,
    committed_offsets,
    ensure_topics,
    make_producer,
)
from shared.plan import load_plan
from shared.settings import DEFAULT_PLAN
from tests.topics import records_until

PLAN = load_plan(DEFAULT_PLAN)
NOW = datetime(2024, 6, 20, 8, 0, tzinfo=timezone(timedelta(hours=7)))
_seq = itertools.count()


def event(agency: str, type_: str, data: dict, *, id: str | None = None, time: datetime | None = None):
    return agency_event_adapter.validate_python(
        {
            "specversion": "1.0",
            "id": id or f"ev-{next(_seq)}-{uuid.uuid4().hex[:8]}",
            "source": f"/agencies/{agency}",
            "type": f"vn.gov.pcmt.{type_}.v1",
            "time": (time or NOW).isoformat(),
            "data": data,
        }
    )


def reported(agency: str, indicator: str, period: str, value: float, **kw):
    data = {"indicator": indicator, "period": period, "value": value}
    if "unit_code" in kw:
        data["unit_code"] = kw.pop("unit_code")
    return event(agency, "indicator.reported", data, **kw)


def corrected_figures() -> list:
    """The read API tests' events: the provincial police's year figure reported twice (60 in May,
    100 in June) and the June one corrected to 95, and customs' May report submitted."""
    vn = NOW.tzinfo
    return [
        reported(
            "CA-TINH", "drug_cases_detected", "2024", 60, id="r1", time=datetime(2024, 5, 10, 9, tzinfo=vn)
        ),
        reported(
            "CA-TINH", "drug_cases_detected", "2024", 100, id="r2", time=datetime(2024, 6, 10, 9, tzinfo=vn)
        ),
        event(
            "CA-TINH",
            "indicator.corrected",
            {"corrects": "r2", "value": 95, "reason": "trùng 5 vụ"},
            id="c1",
            time=datetime(2024, 6, 12, 9, tzinfo=vn),
        ),
        event("HQ", "report.submitted", {"period": "2024-05"}, time=datetime(2024, 5, 16, 9, tzinfo=vn)),
    ]


BUGGY_FACT = "trips-a-bug"


def plant_a_ledger_bug(monkeypatch) -> None:
    """Folding the fact whose id is BUGGY_FACT raises ZeroDivisionError: a bug, not bad data."""
    from services.aggregator.domain.ledger import AgencyLedger

    original = AgencyLedger.apply

    def buggy(self, fact, plan, undo=None):
        if fact.id == BUGGY_FACT:
            raise ZeroDivisionError("simulated bug")
        return original(self, fact, plan, undo)

    monkeypatch.setattr(AgencyLedger, "apply", buggy)


async def fresh_database(server_url: str) -> str:
    """A new empty database on the given cluster, as the aggregator's own role (no superuser,
    its schema only), migrated to head by that role."""
    url = service_database_url(await create_database(server_url, "agg"), "aggregator")
    await upgrade_async("aggregator", url)
    return url


def unique_topics(prefix: str = "t") -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "TIENDO_EVENTS_TOPIC": f"{prefix}-events-{tag}",
        "TIENDO_STATUS_TOPIC": f"{prefix}-status-{tag}",
        "TIENDO_DLQ_TOPIC": f"{prefix}-dlq-{tag}",
        "AGGREGATOR_GROUP_ID": f"{prefix}-agg-{tag}",
    }


async def create_topics(bootstrap: str, topics: dict[str, str], partitions: int = 3) -> None:
    await ensure_topics(
        bootstrap,
        [
            TopicSpec(topics[k], partitions, 86_400_000)
            for k in ("TIENDO_EVENTS_TOPIC", "TIENDO_STATUS_TOPIC", "TIENDO_DLQ_TOPIC")
        ],
    )


def settings_for(bootstrap: str, database_url: str, topics: dict[str, str], **extra: Any):
    from services.aggregator.settings import AggregatorSettings

    values = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        **topics,
        "AGGREGATOR_POLL_TIMEOUT_MS": 50,
        "AGGREGATOR_RELAY_INTERVAL_SECONDS": 0.05,
        # snapshots every few facts: every integration test (crashes, rebalances, rebuilds,
        # repeats) then runs through them, not only past 20,000 facts of one agency
        "AGGREGATOR_SNAPSHOT_AFTER": 7,
        **extra,
    }
    return AggregatorSettings(**values)


async def produce(
    bootstrap: str, topic: str, events, raw: list[tuple[bytes | None, bytes, list]] = ()
) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = []
        for e in events:
            record = to_kafka(e)
            futures.append(await producer.send(topic, record.value, key=record.key, headers=record.headers))
        for key, value, headers in raw:
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_all(
    bootstrap: str, topic: str, *, until=lambda records: False, timeout: float = 15, decode: bool = True
) -> list:
    """Everything on a topic (from the start) once `until(records)` holds, or after `timeout`."""
    transform = (lambda r: decode_status_event(r.value, r.headers)) if decode else (lambda r: r)
    return await records_until(bootstrap, topic, until=until, timeout=timeout, transform=transform)


async def wait_until(predicate, timeout: float = 20, every: float = 0.1):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def running(settings, clock: ManualClock | None = None, relay: bool = True, plan: Any = PLAN):
    """An aggregator (consumer + relay, no HTTP) in this event loop, on the shipped plan (or
    another, or a `PlanBook`)."""
    from services.aggregator.bootstrap import bootstrap

    agg = bootstrap(settings, clock=clock or ManualClock(NOW), plan=plan)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(agg.consumer.run(stop))]
    if relay:
        tasks.append(asyncio.create_task(agg.relay.run(stop)))
    try:
        yield agg
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        await agg.engine.dispose()


@contextlib.asynccontextmanager
async def committee_api(agg: Any):
    """The aggregator's read API in this event loop, as the steering committee (no background tasks)."""
    import httpx

    from services.aggregator.entrypoints.app import create_app
    from shared.auth import Role
    from shared.auth.testing import auth_settings, bearer

    app = create_app(agg, run_background=False, auth=auth_settings())
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://aggregator", headers=bearer(Role.COMMITTEE)
    ) as api:
        yield api


async def caught_up(bootstrap: str, topic: str, group: str) -> bool:
    """The group committed offsets up to the end of every partition of the topic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_security())
    await probe.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for p in (probe.partitions_for_topic(topic) or await _partitions(probe, topic))
        ]
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    try:
        committed = await committed_offsets(bootstrap, group)
    except Exception:  # the group coordinator is still being elected on a fresh broker
        return False
    return all(end == 0 or committed.get(tp, -1) >= end for tp, end in ends.items())


async def until_caught_up(bootstrap: str, topics: dict, timeout: float = 60, every: float = 0.3) -> None:
    """Wait until the aggregator's group has committed to the end of the events topic."""
    await wait_until(
        lambda: caught_up(bootstrap, topics["TIENDO_EVENTS_TOPIC"], topics["AGGREGATOR_GROUP_ID"]),
        timeout=timeout,
        every=every,
    )


async def _partitions(probe, topic):
    await probe._client.force_metadata_update()
    return probe.partitions_for_topic(topic) or set()


async def live_kpis(engine) -> dict:
    from sqlalchemy import select

    from services.aggregator.adapters.tables import kpis

    async with engine.connect() as conn:
        rows = (await conn.execute(select(kpis))).all()
    return {(r.agency, r.indicator, r.period): (r.actual, r.status) for r in rows}


def recomputed_kpis(events, now) -> dict:
    """The KPIs a from-scratch fold of the (deduplicated) events gives, for every target."""
    from services.aggregator.domain.facts import fact_from_event
    from services.aggregator.domain.history import fold
    from services.aggregator.domain.kpi import evaluate
    from services.aggregator.domain.ledger import AgencyLedger

    ledgers = fold([fact_from_event(e, i, PLAN) for i, e in enumerate(events)], PLAN)
    out = {}
    for target in PLAN.targets:
        kpi = evaluate(ledgers.get(target.agency, AgencyLedger(target.agency)), target, PLAN, now)
        out[kpi.key] = (kpi.actual, kpi.status.value)
    return out


async def count(engine, sql: str) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar()
