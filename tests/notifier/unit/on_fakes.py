"""The real notifier service layer on the in-memory fakes, driven step by step from sync tests.

`event` is `Notifier.handle`, `tick` is `Notifier.tick` (persistent risks promoted, every leader
planned) and returns the digests queued in the outbox since the previous tick, including those
`handle` planned for the leaders an event concerned. Nothing here decides anything: the
digests are what the service composed and enqueued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from services.notifier.adapters.memory import MemoryUnitOfWork
from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.adapters.rendering import DigestComposer
from services.notifier.domain.alerts import Alert
from services.notifier.domain.digest import Digest, RecipientState
from services.notifier.domain.directory import Directory
from services.notifier.domain.policy import DigestPolicy
from services.notifier.domain.silences import Silence
from services.notifier.service_layer.notifier import AckLinks, Notifier
from tests.notifier.helpers import SECRET

T = TypeVar("T")


class RecordingComposer:
    """The real composer, remembering each digest it composed by idempotency key."""

    def __init__(self, composer: DigestComposer) -> None:
        self.composer, self.digests = composer, dict[str, Digest]()

    @property
    def from_address(self) -> str:
        return self.composer.from_address

    def compose(self, digest: Digest, ack_link: Callable[[Alert], str]) -> EmailMessage:
        self.digests[digest.idempotency_key] = digest
        return self.composer.compose(digest, ack_link)


class NotifierOnFakes:
    def __init__(self, directory: Directory, policy: DigestPolicy) -> None:
        self.directory, self.policy = directory, policy
        self.uow = MemoryUnitOfWork()
        self.composer = RecordingComposer(DigestComposer(directory, "Tiendo <tiendo@tiendo.local>"))
        links = AckLinks(SECRET.encode(), "http://notifier.test", timedelta(days=7))
        metrics = NotifierMetrics(CollectorRegistry())
        self.notifier = Notifier(self.uow, directory, policy, links, self.composer, metrics)
        self.sent: list[Digest] = []
        self._reported: set[str] = set()

    @staticmethod
    def run(step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(step)

    # -- driving the service ---------------------------------------------------------------
    def event(self, event, now: datetime) -> bool:
        return self.run(self.notifier.handle(event, now))

    def tick(self, now: datetime) -> list[Digest]:
        self.run(self.notifier.tick(now))
        fresh = [r.email.key for r in self.uow.outbox.rows if r.email.key not in self._reported]
        self._reported.update(fresh)
        digests = [self.composer.digests[key] for key in fresh]
        self.sent += digests
        return digests

    def ack(self, fingerprint_part: str, by: str, now: datetime) -> None:
        for key, alert in list(self.alerts.items()):
            if fingerprint_part in key and alert.id is not None:
                self.run(self.notifier.acknowledge(alert.id, by, now))

    # -- arranging state the way the adapters would -------------------------------------------
    def add_silence(self, silence: Silence) -> Silence:
        return self.run(self.uow.alerts.add_silence(silence, silence.starts_at))

    def add_alert(self, alert: Alert) -> Alert:
        return self.run(self.uow.alerts.save_alerts([alert]))[0]

    # -- reading state -------------------------------------------------------------------------
    @property
    def alerts(self) -> dict[str, Alert]:
        """Every alert by fingerprint (a copy: arrange state with `add_alert`)."""
        return dict(self.uow.state.alerts)

    @property
    def states(self) -> dict[str, RecipientState]:
        return dict(self.uow.state.recipients)


def to(digests: list[Digest]) -> list[str]:
    return sorted(d.recipient.email.split("@")[0] for d in digests)
