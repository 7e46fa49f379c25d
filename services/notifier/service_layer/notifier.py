"""Use cases of the notifier, each one database transaction: apply a status event, plan digests.

The status event, the alert changes it causes and the digests it makes due are committed
together; the consumer commits its Kafka offset only afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.adapters import outbox
from services.notifier.adapters import repository as repo
from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.adapters.rendering import InvalidAddress, RenderContext, parse_sender, render
from services.notifier.domain import ack, periods
from services.notifier.domain import alerts as alert_rules
from services.notifier.domain.alerts import Alert
from services.notifier.domain.digest import plan, select
from services.notifier.domain.directory import Directory, Leader
from services.notifier.domain.policy import DigestPolicy
from services.notifier.domain.routing import reachable_agencies
from services.notifier.service_layer import operations
from shared.clock import Clock, SystemClock
from shared.events.models import KpiStatusChangedEvent, ReportStatusChangedEvent

log = logging.getLogger(__name__)


@dataclass
class AckLinks:
    secret: bytes
    public_url: str
    ttl: timedelta

    def link_for(self, key: str, recipient: str, now: datetime) -> Callable[[Alert], str]:
        def link(alert: Alert) -> str:
            claim = ack.AckClaim(
                alert.id, recipient, now + self.ttl, ack.nonce_for(self.secret, key, str(alert.id))
            )
            return f"{self.public_url.rstrip('/')}/ack/{ack.issue(self.secret, claim)}"

        return link


class Notifier:
    def __init__(
        self,
        engine: AsyncEngine,
        directory: Directory,
        policy: DigestPolicy,
        links: AckLinks,
        sender: str,
        metrics: NotifierMetrics,
        timezone: str = "Asia/Ho_Chi_Minh",
        wall: Clock | None = None,
    ) -> None:
        self.engine, self.directory, self.policy, self.links = engine, directory, policy, links
        self.sender, self.metrics, self.timezone = sender, metrics, timezone
        self.wall = wall or SystemClock()
        self.sender_address = parse_sender(sender)

    # -- status events -------------------------------------------------------------------
    async def handle(self, event: KpiStatusChangedEvent | ReportStatusChangedEvent, now: datetime) -> bool:
        """Apply one status event; False if it was a duplicate (already in the inbox)."""
        async with self.engine.begin() as conn:
            if not await repo.record_in_inbox(conn, event.source, event.id, event.type, now):
                self.metrics.status_events.labels("duplicate").inc()
                return False
            changed = await self._apply(conn, event, now)
            for leader in self._audience(changed):
                await self._plan_for(conn, leader, now)
        self.metrics.status_events.labels("applied").inc()
        return True

    async def _apply(self, conn: AsyncConnection, event, now: datetime) -> list[Alert]:
        data = event.data
        if isinstance(event, KpiStatusChangedEvent):
            before = await repo.kpi_status_of(
                conn, data.agency, data.indicator, periods.previous(data.period)
            )
            signals = alert_rules.kpi_signals(data, before)
            await repo.remember_kpi_status(
                conn, data.agency, data.indicator, data.period, data.status, data.as_of, signals[0].facts
            )
        else:
            signals = alert_rules.report_signals(data)
        return await self._signal(conn, signals, now)

    async def _signal(self, conn: AsyncConnection, signals: list, now: datetime) -> list[Alert]:
        changed = []
        for signal in signals:
            current = await repo.alert_by_fingerprint(conn, signal.fingerprint)
            after = alert_rules.apply(current, signal, now, alert_rules.superseded(signal, changed))
            if after is not None and after != current:
                changed.append(await repo.save_alert(conn, after))
        return changed

    def _audience(self, changed: list[Alert]) -> list[Leader]:
        """Everyone who may hear of these alerts now or after escalation, in a fixed order
        (locks are always taken in the same order, so planners never deadlock)."""
        out: dict[str, Leader] = {}
        for alert in changed:
            agency = self.directory.agency(alert.agency)
            for code in (agency.code, *agency.chain):
                for leader in self.directory.agency(code).leaders:
                    out.setdefault(leader.email.lower(), leader)
        return [out[k] for k in sorted(out)]

    # -- digests ---------------------------------------------------------------------------
    async def tick(self, now: datetime) -> int:
        """Plan every leader's digest (group_wait/interval elapsed, repeats, escalations)."""
        await self.promote_persistent_risks(now)
        async with self.engine.connect() as conn:
            firing = await repo.alerts_for(conn, None)
            waiting = set(await repo.recipients_with_deliveries(conn))
        self._observe(firing)
        firing_agencies = {a.agency for a in firing}
        queued = 0
        leaders = {lead.email.lower(): lead for a in self.directory.agencies.values() for lead in a.leaders}
        for email in sorted(leaders):
            if email not in waiting and not (reachable_agencies(email, self.directory) & firing_agencies):
                continue
            async with self.engine.begin() as conn:
                queued += await self._plan_for(conn, leaders[email], now)
        return queued

    async def _plan_for(self, conn: AsyncConnection, leader: Leader, now: datetime) -> int:
        email = leader.email.lower()
        state = await repo.lock_recipient(conn, email)
        scope = reachable_agencies(email, self.directory)
        alerts = await repo.alerts_for(conn, scope, also_ids=state.delivered.keys())
        selection = select(
            email, alerts, state, self.directory, await repo.list_silences(conn, now), self.policy, now
        )
        digest, new_state = plan(leader, selection, state, self.policy, now)
        queued = 0
        if digest is not None:
            try:
                ctx = RenderContext(
                    self.directory,
                    self.sender,
                    self.timezone,
                    self.links.link_for(digest.idempotency_key, email, now),
                )
                message = render(digest, ctx, domain=self.sender_address.domain)
            except InvalidAddress as exc:
                log.error("not mailing %r: %s", leader.email, exc)
                return 0
            if await outbox.enqueue(
                conn,
                key=digest.idempotency_key,
                message_id=message["Message-ID"],
                recipient=leader.email,
                sender=self.sender_address.addr_spec,
                subject=str(message["Subject"]),
                message=message.as_bytes(),
                created_at=now,
                wall_now=self.wall.now(),
            ):
                queued = 1
                self.metrics.queued.inc()
        if new_state != state:
            await repo.save_recipient(conn, new_state)
        return queued

    async def promote_persistent_risks(self, now: datetime) -> int:
        """At risk since an earlier reporting window: the second period running has begun."""
        d = self.directory
        async with self.engine.begin() as conn:
            due = [
                alert_rules.persistent_risk_signal(r.agency, r.indicator, r.period, dict(r.facts), now)
                for r in await repo.at_risk_kpis(conn)
                if alert_rules.risk_persisted(r.since, now, d.cutoff_day, d.timezone)
            ]
            pending = []
            for signal in due:
                current = await repo.alert_by_fingerprint(conn, signal.fingerprint)
                if current is None or not current.firing:
                    pending.append(signal)
            changed = await self._signal(conn, pending, now)
        return len(changed)

    def _observe(self, firing: list[Alert]) -> None:
        self.metrics.alerts_open.clear()
        for alert in firing:
            self.metrics.alerts_open.labels(
                alert.state, alert.severity.value, str(alert.acked_at is not None).lower()
            ).inc()

    # -- acknowledgement and silences ------------------------------------------------------
    async def acknowledge(self, alert_id: int, by: str, now: datetime) -> Alert | None:
        async with self.engine.begin() as conn:
            return await operations.acknowledge(conn, alert_id, by, now)

    async def acknowledge_with_token(self, token: str, now: datetime) -> tuple[str, Alert | None]:
        """("ok" | "used" | "unknown" | an InvalidToken reason, the alert)."""
        try:
            claim = ack.verify(self.links.secret, token, now)
        except ack.InvalidToken as exc:
            return exc.reason, None
        async with self.engine.begin() as conn:
            if not await repo.use_ack_nonce(conn, claim.nonce, claim.alert_id, now):
                return "used", await repo.alert_by_id(conn, claim.alert_id)
            alert = await operations.acknowledge(conn, claim.alert_id, claim.recipient, now)
            return ("ok" if alert else "unknown"), alert

    def peek_token(self, token: str, now: datetime) -> tuple[str, ack.AckClaim | None]:
        try:
            return "ok", ack.verify(self.links.secret, token, now)
        except ack.InvalidToken as exc:
            return exc.reason, None
