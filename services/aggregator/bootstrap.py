"""Composition root: settings → engine, plan, clock, metrics, projector, consumer, relay."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.adapters.codecs import with_lean_codecs
from services.aggregator.adapters.metrics import AggregatorMetrics
from services.aggregator.adapters.relay import OutboxRelay
from services.aggregator.adapters.unit_of_work import SqlUnitOfWork
from services.aggregator.entrypoints import gauges
from services.aggregator.entrypoints.consumer import EventConsumer, crash_hook
from services.aggregator.service_layer.projector import Projector
from services.aggregator.settings import AggregatorSettings
from shared.db import make_engine
from shared.kafka import make_broker
from shared.observability import new_registry
from shared.plan.book import PlanBook, load_plans
from shared.plan.index import PlanIndex
from shared.plan.model import Plan


@dataclass
class Aggregator:
    settings: AggregatorSettings
    plan: PlanIndex  # the newest plan: what the read side shows
    plans: PlanBook  # every plan loaded: each event is counted by its year's
    clock: Any
    engine: AsyncEngine
    registry: CollectorRegistry
    metrics: AggregatorMetrics
    projector: Projector
    consumer: EventConsumer
    relay: OutboxRelay
    tasks: list[asyncio.Task] = field(default_factory=list)  # what runs beside the requests
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def start(self, *, background: bool = True) -> None:
        """With `background`: the consumer and the relay (unless their settings turn them off)
        and the KPI gauges' refresh; without it the aggregator serves reads only."""
        if not background or self.tasks:
            return
        self._stopping.clear()
        if self.settings.run_consumer:
            self.tasks.append(asyncio.create_task(self.consumer.run(self._stopping), name="consumer"))
        if self.settings.run_relay:
            self.tasks.append(asyncio.create_task(self.relay.run(self._stopping), name="relay"))
        self.tasks.append(asyncio.create_task(gauges.refresh_forever(self, self._stopping), name="gauges"))

    async def stop(self) -> None:
        self._stopping.set()
        for task in self.tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        self.tasks.clear()
        await self.engine.dispose()


def bootstrap(
    settings: AggregatorSettings | None = None,
    *,
    clock: Any = None,
    plan: Plan | PlanBook | None = None,
    registry: CollectorRegistry | None = None,
) -> Aggregator:
    settings = settings or AggregatorSettings()
    plans = (
        plan if isinstance(plan, PlanBook) else PlanBook.of(plan) if plan else load_plans(settings.plan_file)
    )
    clock = clock or settings.clock()
    engine = with_lean_codecs(make_engine(settings.database_url))
    registry = registry or new_registry()
    metrics = AggregatorMetrics(registry)
    metrics.name_plan(  # the newest plan's name of each code
        {a.code: a.display_name("vi") for p in plans.indexes for a in p.agencies}.items(),
        {i.code: i.display_name("vi") for p in plans.indexes for i in p.indicators}.items(),
    )
    projector = Projector(
        SqlUnitOfWork(engine), plans, settings.status_topic, settings.dlq_topic, settings.snapshot_after
    )
    consumer = EventConsumer(settings, projector, clock, metrics, on_batch=crash_hook(settings.fault))
    broker = make_broker(settings.kafka_bootstrap_servers, registry=registry, app_name="aggregator")
    relay = OutboxRelay(engine, broker, metrics, settings.relay_batch_size, settings.relay_interval_seconds)
    return Aggregator(
        settings, plans.latest, plans, clock, engine, registry, metrics, projector, consumer, relay
    )
