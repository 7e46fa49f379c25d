"""Composition root: settings → engine, plan directory, notifier, sender, consumer."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.adapters.outbox import SqlOutbox
from services.notifier.adapters.plan_directory import load_directory
from services.notifier.adapters.rendering import DigestComposer
from services.notifier.adapters.smtp import SmtpTransport
from services.notifier.adapters.unit_of_work import SqlUnitOfWork
from services.notifier.domain.directory import Directory
from services.notifier.entrypoints.consumer import StatusConsumer
from services.notifier.service_layer.delivery import Sender
from services.notifier.service_layer.notifier import AckLinks, Notifier
from services.notifier.service_layer.ports import DeliveryQueue, MailTransport, UnitOfWork
from services.notifier.settings import NotifierSettings
from shared.clock import Clock
from shared.consumers import ConsumerHealth, engine_answers
from shared.db import make_engine
from shared.kafka import make_broker
from shared.observability import new_registry

SENDER_GRACE_S = 8.0  # a graceful stop waits so long for the email in hand


@dataclass
class Container:
    settings: NotifierSettings
    clock: Clock
    engine: AsyncEngine
    directory: Directory
    registry: CollectorRegistry
    metrics: NotifierMetrics
    notifier: Notifier
    sender: Sender
    _health: ConsumerHealth | None = field(default=None, repr=False)
    tasks: list[asyncio.Task] = field(default_factory=list)  # what runs beside the requests

    async def start(self, *, background: bool = True) -> None:
        """With `background`: the status consumer, the scheduler and the sender loops."""
        from services.notifier.entrypoints import loops  # they take this container

        if background and not self.tasks:
            self.sender.stopping.clear()
            self.tasks = loops.start_all(self)

    async def stop(self) -> None:
        """The consumer and the scheduler at once; the sender once the email in hand is sent and
        recorded (within SENDER_GRACE_S, inside compose's 10 s stop grace)."""
        from services.notifier.entrypoints.loops import SENDER

        self.sender.stopping.set()
        sending = [t for t in self.tasks if t.get_name() == SENDER]
        for task in self.tasks:
            if task not in sending:
                task.cancel()
        if sending:
            _, late = await asyncio.wait(sending, timeout=SENDER_GRACE_S)
            for task in late:
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        await self.engine.dispose()

    def consumer(self) -> StatusConsumer:
        """The status-topic subscriber on a FastStream broker of its own (consumer only)."""

        async def handle(events) -> int:
            return await self.notifier.handle_many(events, self.clock.now())

        async def dead_letter_once(position, publish) -> bool:
            return await self.notifier.dead_letter_once(position, self.clock.now(), publish)

        broker = make_broker(
            self.settings.kafka_bootstrap_servers, registry=self.registry, app_name="notifier"
        )
        return StatusConsumer(
            broker,
            self.settings.status_topic,
            self.settings.consumer_group,
            handle,
            on_poison=lambda: self.metrics.status_events.labels("undecodable").inc(),
            dlq_topic=self.settings.dlq_topic,
            health=self.health,
            attempts=self.settings.poison_attempts,
            reachable=lambda: engine_answers(self.engine),
            bootstrap=self.settings.kafka_bootstrap_servers,
            dead_letter_once=dead_letter_once,
        )

    @property
    def health(self) -> ConsumerHealth:
        """The status consumer's health (one per container, on its registry's /readyz and /metrics)."""
        if self._health is None:
            self._health = ConsumerHealth(
                self.registry, "notifier", "notifier-status", stall_seconds=self.settings.stall_seconds
            )
        return self._health


def smtp_transport(settings: NotifierSettings) -> SmtpTransport:
    return SmtpTransport(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_tls,
        settings.smtp_username,
        settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        settings.smtp_timeout,
        settings.smtp_ca_file,
        settings.smtp_validate_certs,
    )


def bootstrap(
    settings: NotifierSettings | None = None,
    *,
    clock: Clock | None = None,
    directory: Directory | None = None,
    engine: AsyncEngine | None = None,
    uow: UnitOfWork | None = None,
    outbox: DeliveryQueue | None = None,
    transport: MailTransport | None = None,
    checkpoint=None,
) -> Container:
    settings = settings or NotifierSettings()  # type: ignore[call-arg]
    clock = clock or settings.clock()
    engine = engine or make_engine(settings.database_url)
    directory = directory or load_directory(settings.plan_file)
    registry = new_registry()
    metrics = NotifierMetrics(registry)
    links = AckLinks(settings.ack_secret.get_secret_value().encode(), settings.public_url, settings.ack_ttl)
    composer = DigestComposer(directory, settings.smtp_from, settings.pages_url)
    policy = settings.policy(directory.timezone)  # quiet hours and digest times in the plan's zone
    notifier = Notifier(uow or SqlUnitOfWork(engine), directory, policy, links, composer, metrics)
    sender = Sender(
        outbox or SqlOutbox(engine),
        transport or smtp_transport(settings),
        metrics,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        lease=settings.send_lease,
        retry_base=settings.retry_base,
        retry_cap=settings.retry_cap,
        checkpoint=checkpoint,
    )
    return Container(settings, clock, engine, directory, registry, metrics, notifier, sender)
