"""`Notifier.handle`/`tick`/acknowledgement and `Sender.run_once` on the in-memory fakes."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy

import pytest
from prometheus_client import CollectorRegistry

from services.notifier.adapters.memory import MemoryTransport, MemoryUnitOfWork
from services.notifier.adapters.metrics import NotifierMetrics
from services.notifier.adapters.rendering import DigestComposer
from services.notifier.domain import ack
from services.notifier.domain.alerts import AlertKind
from services.notifier.domain.directory import Directory
from services.notifier.domain.policy import DigestPolicy
from services.notifier.service_layer.delivery import Sender
from services.notifier.service_layer.notifier import AckLinks, Notifier
from services.notifier.service_layer.ports import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    InvalidAddress,
    PermanentSmtpError,
    TransientSmtpError,
)
from shared.clock import ManualClock
from shared.events import KpiStatus
from tests.notifier.helpers import PLAN_ZONE, SECRET, T0, kpi_event, small_directory

H, DAY = timedelta(hours=1), timedelta(days=1)
POLICY = DigestPolicy(
    timezone=PLAN_ZONE,
    group_wait=timedelta(0),
    repeat_interval=30 * DAY,
    escalation_delays=(3 * DAY, 7 * DAY),
)
LINKS = AckLinks(SECRET.encode(), "http://notifier.test", timedelta(days=7))


def counted(metrics: NotifierMetrics, outcome: str) -> float:
    return metrics.status_events.labels(outcome)._value.get()


class Failing:
    """A composer that fails: the planner's transaction must leave nothing behind."""

    from_address = "t@t.example"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def compose(self, digest, ack_link):
        raise self.error


def notifier(uow: MemoryUnitOfWork, directory: Directory | None = None, composer=None, policy=POLICY):
    directory = directory or small_directory()
    composer = composer or DigestComposer(directory, "Tiendo <tiendo@tiendo.local>")
    metrics = NotifierMetrics(CollectorRegistry())
    return Notifier(uow, directory, policy, LINKS, composer, metrics, wall=ManualClock(T0))


async def test_handle_records_the_event_opens_the_alert_and_queues_the_digest_in_one_commit():
    uow = MemoryUnitOfWork()
    n = notifier(uow)
    assert await n.handle(kpi_event(agency="CA-HUONG-HOA"), T0)
    assert uow.commits == 1 and uow.rollbacks == 0
    [alert] = uow.state.alerts.values()
    assert (alert.kind, alert.agency, alert.firing) == (AlertKind.LAGGING, "CA-HUONG-HOA", True)
    [row] = uow.outbox.rows
    assert (row.email.recipient, row.email.sender, row.status) == (
        "cahh@qt.example",
        "tiendo@tiendo.local",
        QUEUED,
    )
    mail = message_from_bytes(row.email.message)
    assert mail["Message-ID"] == row.email.message_id and mail["To"].endswith("<cahh@qt.example>")
    assert uow.state.recipients["cahh@qt.example"].delivered == {alert.id: "firing"}
    assert counted(n.metrics, "applied") == 1


async def test_a_duplicate_event_changes_nothing():
    uow = MemoryUnitOfWork()
    n = notifier(uow)
    event = kpi_event()
    assert await n.handle(event, T0)
    before = uow.state.snapshot()
    assert not await n.handle(event, T0 + H)
    assert uow.state == before and counted(n.metrics, "duplicate") == 1


async def test_a_batch_is_one_commit_and_one_digest_per_leader_with_all_its_alerts():
    uow = MemoryUnitOfWork()
    n = notifier(uow)
    seen = kpi_event(agency="UBND-LAO-BAO")
    assert await n.handle(seen, T0)
    may, june = kpi_event(agency="CA-HUONG-HOA", period="2024-05"), kpi_event(agency="CA-HUONG-HOA")
    batch = [may, june, may, kpi_event(agency="CA-TINH"), seen]  # `may` twice, `seen` applied before
    assert await n.handle_many(batch, T0 + H) == 3
    assert (
        uow.commits == 2 and counted(n.metrics, "applied") == 1 + 3 and counted(n.metrics, "duplicate") == 2
    )
    rows = {
        row.email.recipient: message_from_bytes(row.email.message, policy=email_policy.default)
        for row in uow.outbox.rows[1:]
    }
    assert sorted(rows) == ["cahh@qt.example", "cat@qt.example"]  # one digest each, planned once
    cahh = rows["cahh@qt.example"].get_body(("plain",)).get_content()
    assert "Tháng 5/2024" in cahh and "Tháng 6/2024" in cahh, cahh  # both alerts in the one digest


async def test_a_position_is_dead_lettered_once_in_the_transaction_that_publishes_it():
    uow = MemoryUnitOfWork()
    n, published = notifier(uow), []

    async def publish() -> None:
        published.append("letter")

    assert await n.dead_letter_once("status/0/7", T0, publish)
    assert not await n.dead_letter_once("status/0/7", T0 + H, publish)  # the batch read again
    assert await n.dead_letter_once("status/1/7", T0, publish)
    assert published == ["letter", "letter"]

    async def kafka_away() -> None:
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await n.dead_letter_once("status/0/8", T0, kafka_away)
    assert await n.dead_letter_once("status/0/8", T0 + H, publish)  # not recorded: lettered on retry
    assert published == ["letter"] * 3


async def test_a_failure_while_planning_rolls_the_event_back_so_a_redelivery_applies_it():
    uow = MemoryUnitOfWork()
    event = kpi_event()
    with pytest.raises(RuntimeError):
        await notifier(uow, composer=Failing(RuntimeError("template broken"))).handle(event, T0)
    assert uow.rollbacks == 1 and uow.state.inbox == set() and uow.state.alerts == {}
    assert await notifier(uow).handle(event, T0)  # the consumer's redelivery
    assert len(uow.state.alerts) == 1 and len(uow.outbox.rows) == 1


async def test_an_address_that_cannot_be_written_is_not_mailed_but_the_alert_stands():
    uow = MemoryUnitOfWork()
    assert await notifier(uow, composer=Failing(InvalidAddress("cat@@qt"))).handle(kpi_event(), T0)
    assert uow.commits == 1 and len(uow.state.alerts) == 1 and uow.outbox.rows == []


async def test_tick_escalates_to_the_parent_without_a_new_event():
    uow = MemoryUnitOfWork()
    n = notifier(uow)
    await n.handle(kpi_event(agency="CA-HUONG-HOA"), T0)
    assert await n.tick(T0 + 3 * DAY - H) == 0
    assert await n.tick(T0 + 3 * DAY) == 1
    assert [r.email.recipient for r in uow.outbox.rows] == ["cahh@qt.example", "cat@qt.example"]


async def test_tick_promotes_a_kpi_still_at_risk_in_the_next_reporting_window():
    uow = MemoryUnitOfWork()
    n = notifier(uow)
    await n.handle(kpi_event(period="2024", status=KpiStatus.AT_RISK, previous=None, forecast=150), T0)
    assert not any(a.kind is AlertKind.AT_RISK_REPEATED for a in uow.state.alerts.values())
    await n.tick(T0 + 10 * DAY)  # 30 June: the same window (15 June to 14 July)
    assert not any(a.kind is AlertKind.AT_RISK_REPEATED for a in uow.state.alerts.values())
    await n.tick(T0 + 26 * DAY)  # 16 July: the next one
    [repeated] = [a for a in uow.state.alerts.values() if a.kind is AlertKind.AT_RISK_REPEATED]
    assert repeated.firing and repeated.period == "2024"
    assert await n.promote_persistent_risks(T0 + 27 * DAY) == 0  # firing already: not opened twice


async def test_an_ack_link_acknowledges_once():
    uow = MemoryUnitOfWork()
    n = notifier(uow)
    await n.handle(kpi_event(), T0)
    [alert] = uow.state.alerts.values()
    link = n.links.link_for("key", "cat@qt.example", T0)(alert)
    token = link.rsplit("/", 1)[1]
    assert n.peek_token(token, T0)[0] == "ok"
    outcome, acked = await n.acknowledge_with_token(token, T0 + H)
    assert outcome == "ok" and acked.acked_by == "cat@qt.example" and acked.acked_at == T0 + H
    assert (await n.acknowledge_with_token(token, T0 + 2 * H))[0] == "used"
    expired = ack.issue(LINKS.secret, ack.AckClaim(alert.id, "cat@qt.example", T0, "n"))
    assert (await n.acknowledge_with_token(expired, T0 + H))[0] not in ("ok", "used")
    assert await n.acknowledge(alert.id + 1000, "op", T0) is None


def sender(uow: MemoryUnitOfWork, transport: MemoryTransport, wall: ManualClock, stages=None) -> Sender:
    return Sender(
        uow.outbox,
        transport,
        NotifierMetrics(CollectorRegistry()),
        worker="w1",
        lease=timedelta(seconds=30),
        retry_base=2.0,
        retry_cap=60.0,
        wall=wall,
        checkpoint=(lambda stage, item_id: stages.append((stage, item_id))) if stages is not None else None,
        rng=random.Random(1),
    )


async def queued(uow: MemoryUnitOfWork) -> None:
    """One email each for the provincial police, the district police and the district PC."""
    n = notifier(uow)
    for agency in ("CA-TINH", "CA-HUONG-HOA", "UBND-HUONG-HOA"):
        assert await n.handle(kpi_event(agency=agency), T0)
    assert len(uow.outbox.rows) == 3


async def test_run_once_sends_what_is_due_and_marks_it_sent():
    uow, transport, wall, stages = MemoryUnitOfWork(), MemoryTransport(), ManualClock(T0), []
    await queued(uow)
    s = sender(uow, transport, wall, stages)
    assert await s.run_once() == 3
    assert [r for _, r, _ in transport.sent] == ["cat@qt.example", "cahh@qt.example", "ubhh@qt.example"]
    assert [r.status for r in uow.outbox.rows] == [SENT] * 3
    assert [stage for stage, _ in stages] == ["claimed", "sent"] * 3
    assert await s.run_once() == 0 and len(transport.sent) == 3  # sent is sent
    await s.observe()
    assert s.metrics.pending.labels(SENT)._value.get() == 3 and s.metrics.oldest_unsent._value.get() == 0


async def test_a_transient_failure_retries_later_and_gives_the_rest_back_untried():
    uow, wall = MemoryUnitOfWork(), ManualClock(T0)
    transport = MemoryTransport([TransientSmtpError("451 busy")])
    await queued(uow)
    s = sender(uow, transport, wall)
    assert await s.run_once() == 0
    rows = uow.outbox.rows
    assert [r.status for r in rows] == [QUEUED] * 3 and [r.attempts for r in rows] == [1, 0, 0]
    assert rows[0].last_error == "451 busy" and rows[0].next_attempt_at > T0
    assert len({r.next_attempt_at for r in rows}) == 1  # the server is down: all wait as long
    assert await s.run_once() == 0  # not due yet
    wall.advance(timedelta(seconds=2))  # equal jitter: the first retry is within the base
    assert await s.run_once() == 3 and s.metrics.retried._value.get() == 1


async def test_a_permanent_refusal_fails_that_email_and_the_next_ones_go_out():
    uow, wall = MemoryUnitOfWork(), ManualClock(T0)
    transport = MemoryTransport([PermanentSmtpError("550 no such user")])
    await queued(uow)
    s = sender(uow, transport, wall)
    assert await s.run_once() == 2
    assert [r.status for r in uow.outbox.rows] == [FAILED, SENT, SENT]
    assert uow.outbox.rows[0].last_error == "550 no such user" and s.metrics.failed._value.get() == 1


async def test_a_graceful_stop_finishes_the_email_in_hand_and_starts_no_other():
    """Stopped while SMTP holds an email (the rolling restart of issue 22 sent one twice when the
    sender was cancelled there): that email is recorded sent, the next ones stay for later."""
    uow, wall = MemoryUnitOfWork(), ManualClock(T0)
    await queued(uow)
    in_smtp, accept = asyncio.Event(), asyncio.Event()

    class SlowTransport(MemoryTransport):
        async def send(self, sender: str, recipient: str, message: bytes) -> None:
            in_smtp.set()
            await accept.wait()
            await super().send(sender, recipient, message)

    transport = SlowTransport()
    s = sender(uow, transport, wall)
    run = asyncio.create_task(s.run_once())
    await in_smtp.wait()
    s.stopping.set()  # what Container.stop does first
    accept.set()
    assert await run == 1
    assert [r.status for r in uow.outbox.rows] == [SENT, SENDING, SENDING]
    assert len(transport.sent) == 1
