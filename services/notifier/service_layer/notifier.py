"""Use cases of the notifier, each one transaction of the `UnitOfWork`: apply a status event,
plan digests, acknowledge.

The status event, the alert changes it causes and the digests it makes due are committed
together; the consumer commits its Kafka offset only afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.domain import ack, periods
from services.notifier.domain import alerts as alert_rules
from services.notifier.domain.alerts import Alert, Signal
from services.notifier.domain.digest import Digest, RecipientState, plan, select
from services.notifier.domain.directory import Directory, Leader
from services.notifier.domain.kpi_status import KpiKey
from services.notifier.domain.policy import DigestPolicy
from services.notifier.domain.routing import reachable_agencies
from services.notifier.domain.silences import Silence
from services.notifier.service_layer import operations
from services.notifier.service_layer.ports import (
    Clock,
    Composer,
    InvalidAddress,
    OutgoingEmail,
    Transaction,
    UnitOfWork,
)
from services.notifier.service_layer.working_set import WorkingSet
from shared.clock import SystemClock
from shared.events.models import KpiStatusChangedEvent, ReportStatusChangedEvent

log = logging.getLogger(__name__)
DEAD_LETTERED = "dead-lettered"  # the inbox's source for the positions of records dead-lettered


@dataclass
class AckLinks:
    secret: bytes
    public_url: str
    ttl: timedelta

    def link_for(self, key: str, recipient: str, now: datetime) -> Callable[[Alert], str]:
        def link(alert: Alert) -> str:
            if alert.id is None:  # only a stored alert is mailed
                raise ValueError("an alert gets an acknowledgement link once it is stored")
            claim = ack.AckClaim(
                alert.id, recipient, now + self.ttl, ack.nonce_for(self.secret, key, str(alert.id))
            )
            return f"{self.public_url.rstrip('/')}/ack/{ack.issue(self.secret, claim)}"

        return link


@dataclass(frozen=True)
class _Look:
    states: dict[str, RecipientState]
    alerts: list[Alert]
    silences: list[Silence]

    def state_of(self, email: str) -> RecipientState:
        return self.states.get(email) or RecipientState(email)


class Notifier:
    def __init__(
        self,
        uow: UnitOfWork,
        directory: Directory,
        policy: DigestPolicy,
        links: AckLinks,
        composer: Composer,
        metrics: NotifierMetrics,
        wall: Clock | None = None,
    ) -> None:
        self.uow, self.directory, self.policy, self.links = uow, directory, policy, links
        self.composer, self.metrics = composer, metrics
        self.wall = wall or SystemClock()  # the outbox's due times are wall time, not service time

    # -- status events -------------------------------------------------------------------
    async def handle(self, event: KpiStatusChangedEvent | ReportStatusChangedEvent, now: datetime) -> bool:
        """Apply one status event; False if it was a duplicate (already in the inbox)."""
        return await self.handle_many([event], now) == 1

    async def handle_many(
        self, events: Sequence[KpiStatusChangedEvent | ReportStatusChangedEvent], now: datetime
    ) -> int:
        """Apply status events in order, in one transaction, and plan once for every leader they
        concern (a burst re-plans each digest once, not once per event; under the lock only where
        one look at their alerts finds something due, as `tick` does); the number applied
        (duplicates already in the inbox are not). The batch's KPI statuses and alerts are read
        once and written once (`WorkingSet`)."""
        async with self.uow.begin() as tx:
            fresh = await tx.alerts.record_in_inbox([(e.source, e.id, e.type) for e in events], now)
            new = [e for e, is_new in zip(events, fresh, strict=True) if is_new]
            work = WorkingSet()
            await work.load_kpis(tx.alerts, (k for e in new for k in _kpi_keys(e)))
            signals = [self._signals(work, e) for e in new]  # in order: each sees the ones before
            await work.load_alerts(tx.alerts, (s.fingerprint for each in signals for s in each))
            changed = [a for each in signals for a in self._apply_signals(work, each, now)]
            await work.save(tx.alerts)
            audience = self._audience(changed)
            if audience:
                look = await self._first_look(tx, audience, now)
                for leader in audience:
                    if self._plan_changes(leader, look, now):
                        await self._plan_for(tx, leader, now)
        if len(new) < len(events):
            self.metrics.status_events.labels("duplicate").inc(len(events) - len(new))
        self.metrics.status_events.labels("applied").inc(len(new))
        return len(new)

    async def dead_letter_once(
        self, position: str, now: datetime, publish: Callable[[], Awaitable[None]]
    ) -> bool:
        """Dead-letter the record at `position` (`shared.deadletter.origin_of`) unless it already was:
        a batch read again after an outage must not letter its poison records twice. The position
        is recorded in the inbox in the transaction the letter is published in."""
        async with self.uow.begin() as tx:
            if not (await tx.alerts.record_in_inbox([(DEAD_LETTERED, position, DEAD_LETTERED)], now))[0]:
                return False
            await publish()
        return True

    @staticmethod
    def _signals(work: WorkingSet, event: KpiStatusChangedEvent | ReportStatusChangedEvent) -> list[Signal]:
        if isinstance(event, KpiStatusChangedEvent):
            data = event.data
            before = work.status_of((data.agency, data.indicator, periods.previous(data.period)))
            signals = alert_rules.kpi_signals(data, before)
            work.remember(
                (data.agency, data.indicator, data.period), data.status, data.as_of, signals[0].facts
            )
            return signals
        return alert_rules.report_signals(event.data)

    @staticmethod
    def _apply_signals(work: WorkingSet, signals: list[Signal], now: datetime) -> list[Alert]:
        changed: list[Alert] = []
        for signal in signals:
            current = work.alert(signal.fingerprint)
            after = alert_rules.apply(current, signal, now, alert_rules.superseded(signal, changed))
            if after is not None and after != current:
                work.change(after)
                changed.append(after)
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
        """Plan every leader's digest (group_wait/interval elapsed, repeats, escalations).

        One read of the alerts, silences and grouping states, planned in memory; only a leader
        with a digest due or a state to remember is planned again in a transaction of their own,
        under the lock, from fresh rows (`_plan_changes`). A transaction per leader every tick
        kept an idle notifier at a third of a core."""
        await self.promote_persistent_risks(now)
        async with self.uow.begin() as tx:
            look = await self._first_look(tx, None, now)
        firing = [a for a in look.alerts if a.firing]
        self._observe(firing)
        firing_agencies = {a.agency for a in firing}
        queued = 0
        leaders = {lead.email.lower(): lead for a in self.directory.agencies.values() for lead in a.leaders}
        for email in sorted(leaders):
            state = look.state_of(email)
            waiting = bool(state.delivered) or state.first_pending_at is not None
            if not waiting and not (reachable_agencies(email, self.directory) & firing_agencies):
                continue
            if self._plan_changes(leaders[email], look, now):
                async with self.uow.begin() as tx:
                    queued += await self._plan_for(tx, leaders[email], now)
        return queued

    async def _first_look(self, tx: Transaction, leaders: list[Leader] | None, now: datetime) -> _Look:
        """The grouping states, the alerts (firing ones in these leaders' scope, None = everyone's,
        and whatever they were mailed) and the silences, read once, unlocked."""
        states = {s.email: s for s in await tx.alerts.recipient_states()}
        emails = None if leaders is None else {lead.email.lower() for lead in leaders}
        mailed = {
            i
            for s in states.values()
            if emails is None or s.email in emails
            for i in s.delivered
            if i is not None
        }
        scope = (
            None if emails is None else set().union(*(reachable_agencies(e, self.directory) for e in emails))
        )
        alerts = await tx.alerts.alerts_for(scope, also_ids=mailed)
        return _Look(states, alerts, await tx.alerts.list_silences(now))

    def _plan_changes(self, leader: Leader, look: _Look, now: datetime) -> bool:
        """Whether the leader has a digest due or a state to remember, by the first look; planned
        again under the lock only then (a stale look defers a leader to the next tick at most)."""
        state = look.state_of(leader.email.lower())
        digest, new_state = self._plan(leader, state, look.alerts, look.silences, now)
        return digest is not None or new_state != state

    def _plan(
        self,
        leader: Leader,
        state: RecipientState,
        alerts: list[Alert],
        silences: list[Silence],
        now: datetime,
    ) -> tuple[Digest | None, RecipientState]:
        """The leader's digest due now and the state to remember, from `alerts`: firing ones and
        at least those this leader was mailed (alerts_for's answer, or more)."""
        email = leader.email.lower()
        scope = reachable_agencies(email, self.directory)
        theirs = [a for a in alerts if (a.firing and a.agency in scope) or a.id in state.delivered]
        selection = select(email, theirs, state, self.directory, silences, self.policy, now)
        return plan(leader, selection, state, self.policy, now)

    async def _plan_for(self, tx: Transaction, leader: Leader, now: datetime) -> int:
        email = leader.email.lower()
        state = await tx.alerts.lock_recipient(email)
        mailed = [i for i in state.delivered if i is not None]  # stored alerts, hence with ids
        alerts = await tx.alerts.alerts_for(reachable_agencies(email, self.directory), also_ids=mailed)
        digest, new_state = self._plan(leader, state, alerts, await tx.alerts.list_silences(now), now)
        queued = 0
        if digest is not None:
            try:
                link = self.links.link_for(digest.idempotency_key, email, now)
                message = self.composer.compose(digest, link)
            except InvalidAddress as exc:
                log.error("not mailing %r: %s", leader.email, exc)
                return 0
            outgoing = OutgoingEmail(
                digest.idempotency_key,
                message["Message-ID"],
                leader.email,
                self.composer.from_address,
                str(message["Subject"]),
                message.as_bytes(),
                created_at=now,
            )
            if await tx.outbox.enqueue(outgoing, self.wall.now()):
                queued = 1
                self.metrics.queued.inc()
        if new_state != state:
            await tx.alerts.save_recipient(new_state)
        return queued

    async def promote_persistent_risks(self, now: datetime) -> int:
        """At risk since an earlier reporting window: the second period running has begun."""
        d = self.directory
        async with self.uow.begin() as tx:
            due = [
                alert_rules.persistent_risk_signal(r.agency, r.indicator, r.period, dict(r.facts), now)
                for r in await tx.alerts.at_risk_kpis()
                if alert_rules.risk_persisted(r.since, now, d.cutoff_day, d.timezone)
            ]
            work = WorkingSet()
            await work.load_alerts(tx.alerts, (s.fingerprint for s in due))
            pending = [s for s in due if (a := work.alert(s.fingerprint)) is None or not a.firing]
            changed = self._apply_signals(work, pending, now)
            await work.save(tx.alerts)
        return len(changed)

    def _observe(self, firing: list[Alert]) -> None:
        self.metrics.alerts_open.clear()
        for alert in firing:
            self.metrics.alerts_open.labels(
                alert.state, alert.severity.value, str(alert.acked_at is not None).lower()
            ).inc()

    # -- acknowledgement and silences ------------------------------------------------------
    async def acknowledge(
        self, alert_id: int, by: str, now: datetime, subject: str | None = None
    ) -> Alert | None:
        async with self.uow.begin() as tx:
            return await operations.acknowledge(tx.alerts, alert_id, by, now, subject)

    async def acknowledge_with_token(self, token: str, now: datetime) -> tuple[str, Alert | None]:
        """("ok" | "used" | "unknown" | an InvalidToken reason, the alert)."""
        try:
            claim = ack.verify(self.links.secret, token, now)
        except ack.InvalidToken as exc:
            return exc.reason, None
        async with self.uow.begin() as tx:
            if not await tx.alerts.use_ack_nonce(claim.nonce, claim.alert_id, now):
                return "used", await tx.alerts.alert_by_id(claim.alert_id)
            alert = await operations.acknowledge(
                tx.alerts, claim.alert_id, claim.recipient, now, f"mailto:{claim.recipient}"
            )
            return ("ok" if alert else "unknown"), alert

    def peek_token(self, token: str, now: datetime) -> tuple[str, ack.AckClaim | None]:
        try:
            return "ok", ack.verify(self.links.secret, token, now)
        except ack.InvalidToken as exc:
            return exc.reason, None


def _kpi_keys(event: KpiStatusChangedEvent | ReportStatusChangedEvent) -> list[KpiKey]:
    """The KPI statuses applying `event` reads or writes: its own and its previous period's."""
    if not isinstance(event, KpiStatusChangedEvent):
        return []
    data = event.data
    return [
        (data.agency, data.indicator, data.period),
        (data.agency, data.indicator, periods.previous(data.period)),
    ]
