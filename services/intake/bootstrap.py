"""Composition root: settings → plan, database, Kafka, metrics, the use case and its two doors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.accounts import AccountRepository
from services.intake.adapters.metrics import IntakeMetrics
from services.intake.adapters.publisher import EventPublisher
from services.intake.adapters.registry import EventRegistry
from services.intake.adapters.tokens import TokenRepository
from services.intake.domain.ratelimit import RateLimiter
from services.intake.entrypoints.raw_consumer import RawForwarder
from services.intake.service_layer import Intake
from services.intake.settings import IntakeSettings
from shared.auth import AuthSettings, TokenIssuer
from shared.auth.tokens import ClaimNames, load_signing_key
from shared.clock import Clock
from shared.consumers import ConsumerHealth, engine_answers
from shared.db import make_engine
from shared.kafka import make_broker
from shared.observability import new_registry
from shared.plan.book import PlanBook, load_plans
from shared.plan.index import PlanIndex


@dataclass
class Container:
    settings: IntakeSettings
    clock: Clock
    monotonic: Callable[
        [], float
    ]  # durations (rate refill, token cache): real time, even if the clock is pinned
    plan: PlanIndex  # the newest plan: what the pages show
    plans: PlanBook  # every plan loaded: each event is checked by its year's
    engine: AsyncEngine
    tokens: TokenRepository
    publisher: EventPublisher
    intake: Intake
    limiter: RateLimiter
    metrics: IntakeMetrics
    registry: CollectorRegistry
    forwarder: RawForwarder | None = None
    accounts: AccountRepository | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    issuer: TokenIssuer | None = None  # None without AUTH_SIGNING_KEY_FILE: token and login answer 503
    _started: bool = field(default=False, repr=False)

    async def database_ready(self) -> str | None:
        """None if PostgreSQL (tokens, registry) answers within 2 s, else why not."""

        async def ping() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(ping(), 2.0)
        except Exception as exc:
            return f"PostgreSQL unreachable: {type(exc).__name__}"
        return None

    async def start(self, *, background: bool = True) -> None:
        """The producer (requests need it) and, with `background`, the raw-topic forwarder; both
        tolerate Kafka being down."""
        if self._started:
            return
        self._started = True
        await self.publisher.start()
        if background and self.forwarder is not None:
            await self.forwarder.start()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.forwarder is not None:
            await self.forwarder.stop()
        await self.publisher.stop()
        await self.intake.registry.close()
        await self.engine.dispose()


def bootstrap(
    settings: IntakeSettings,
    *,
    clock: Clock | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    auth: AuthSettings | None = None,
) -> Container:
    clock = clock or settings.clock()
    auth = auth or AuthSettings()
    plans = load_plans(settings.plan_file)
    engine = make_engine(settings.database_url)
    registry = new_registry()
    metrics = IntakeMetrics(registry)
    publisher = EventPublisher(
        settings.kafka_bootstrap_servers,
        timeout_s=settings.publish_timeout_s,
        observe=metrics.publish_seconds.observe,
    )
    intake = Intake(
        plans,
        EventRegistry(engine),
        publisher,
        metrics,
        events_topic=settings.events_topic,
        clock=clock,
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
    )
    forwarder = None
    if settings.raw_consumer_enabled:
        broker = make_broker(
            settings.kafka_bootstrap_servers,
            registry=registry,
            app_name="intake",
            consumer_only=True,
            metadata_max_age_ms=10_000,  # an agency's new raw topic is read within seconds
        )  # forwards through `publisher`
        health = ConsumerHealth(registry, "intake", "intake-raw", stall_seconds=settings.stall_seconds)
        forwarder = RawForwarder(
            broker,
            intake,
            raw_topic=settings.raw_topic,
            dlq_topic=settings.dlq_topic,
            group_id=settings.raw_group_id,
            max_records=settings.raw_max_records,
            health=health,
            attempts=settings.poison_attempts,
            reachable=lambda: engine_answers(engine),
            max_event_bytes=settings.max_event_bytes,
        )
    return Container(
        settings=settings,
        clock=clock,
        monotonic=monotonic,
        plan=plans.latest,
        plans=plans,
        engine=engine,
        tokens=TokenRepository(engine, cache_ttl_s=settings.token_cache_ttl_s, monotonic=monotonic),
        publisher=publisher,
        intake=intake,
        limiter=RateLimiter(settings.rate_per_s, settings.rate_burst),
        metrics=metrics,
        registry=registry,
        forwarder=forwarder,
        accounts=AccountRepository(engine),
        auth=auth,
        issuer=_issuer(settings, auth),
    )


def _issuer(settings: IntakeSettings, auth: AuthSettings) -> TokenIssuer | None:
    """The local issuer; a key file that is set but unreadable stops the start (ValueError)."""
    if settings.auth_signing_key_file is None:
        return None
    return TokenIssuer(
        load_signing_key(settings.auth_signing_key_file),
        issuer=auth.issuer,
        audience=auth.audience,
        lifetime_seconds=settings.access_token_lifetime_s,
        claims=ClaimNames(role=auth.role_claim, agency=auth.agency_claim, name=auth.name_claim),
    )
