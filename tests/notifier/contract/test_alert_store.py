"""The `UnitOfWork` and `AlertStore` contract: the same tests on the fake and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.notifier.domain.alerts import FIRING, RESOLVED, Alert, AlertKind
from services.notifier.domain.digest import RecipientState
from services.notifier.domain.kpi_status import RememberedStatus
from services.notifier.domain.silences import Silence
from services.notifier.service_layer.ports import OutgoingEmail, UnitOfWork
from shared.events import KpiStatus
from tests.notifier.helpers import T0

EMAIL = OutgoingEmail("k", "<m@t>", "cat@qt.example", "t@t.example", "s", b"x", T0)

H = timedelta(hours=1)


def alert(agency: str = "CA-TINH", kind: AlertKind = AlertKind.LAGGING, **changes) -> Alert:
    base = Alert(
        kind, agency, "drug_cases_detected", "2024-06", FIRING, T0, T0, {"actual": 41, "target": 191.5}
    )
    return replace(base, **changes)


async def test_an_event_is_in_the_inbox_once(uow: UnitOfWork):
    agg = "/services/aggregator"
    async with uow.begin() as tx:
        assert await tx.alerts.record_in_inbox([], T0) == []
        # the pair is the key; the same pair twice in one call is a duplicate the second time
        entries = [
            (agg, "e-1", "kpi"),
            (agg, "e-1", "kpi"),
            ("/elsewhere", "e-1", "kpi"),
            (agg, "e-2", "kpi"),
        ]
        assert await tx.alerts.record_in_inbox(entries, T0) == [True, False, True, True]
    async with uow.begin() as tx:
        assert await tx.alerts.record_in_inbox([(agg, "e-3", "kpi"), (agg, "e-1", "kpi")], T0 + H) == [
            True,
            False,
        ]


async def test_a_transaction_that_raises_leaves_nothing_behind(uow: UnitOfWork):
    with pytest.raises(RuntimeError):
        async with uow.begin() as tx:
            await tx.alerts.record_in_inbox([("/s", "e-1", "kpi")], T0)
            await tx.alerts.save_alerts([alert()])
            await tx.outbox.enqueue(EMAIL, T0)
            raise RuntimeError("the planner failed half-way")
    async with uow.begin() as tx:
        assert await tx.alerts.record_in_inbox([("/s", "e-1", "kpi")], T0) == [True]
        assert await tx.alerts.alerts_by_fingerprint([alert().fingerprint]) == {}
        assert await tx.outbox.enqueue(EMAIL, T0)


async def test_an_alert_is_saved_by_fingerprint_and_keeps_its_id(uow: UnitOfWork):
    async with uow.begin() as tx:
        assert await tx.alerts.save_alerts([]) == []
        first, other = await tx.alerts.save_alerts([alert(), alert(agency="BDBP")])
    assert first.id is not None and other.id is not None and first.id != other.id
    assert first == alert(id=first.id)
    resolved = replace(first, state=RESOLVED, resolved_at=T0 + H, facts={"actual": 191})
    async with uow.begin() as tx:
        # given back in the order given, new or not (`apply` may hand one over without its id)
        new, again = await tx.alerts.save_alerts([alert(agency="HQ"), replace(resolved, id=None)])
        assert (
            again == resolved and new == alert(agency="HQ", id=new.id) and new.id not in (first.id, other.id)
        )
        assert await tx.alerts.alerts_by_fingerprint([first.fingerprint, "nothing", first.fingerprint]) == {
            first.fingerprint: resolved
        }
        assert await tx.alerts.alerts_by_fingerprint([]) == {}
        assert await tx.alerts.alert_by_id(first.id) == resolved
        assert await tx.alerts.alert_by_id(first.id, lock=True) == resolved
        assert await tx.alerts.alert_by_id(first.id + other.id + new.id + 100) is None


async def test_alerts_for_is_the_firing_ones_in_scope_plus_those_asked_for_by_id(uow: UnitOfWork):
    async with uow.begin() as tx:
        tinh, bdbp, gone, report = await tx.alerts.save_alerts(
            [
                alert("CA-TINH"),
                alert("BDBP"),
                alert("HQ", state=RESOLVED, resolved_at=T0),
                alert("CA-TINH", AlertKind.REPORT_MISSING, indicator=None),
            ]
        )
    async with uow.begin() as tx:
        assert [a.id for a in await tx.alerts.alerts_for(None)] == [tinh.id, bdbp.id, report.id]
        assert [a.id for a in await tx.alerts.alerts_for(["CA-TINH"])] == [tinh.id, report.id]
        assert [a.id for a in await tx.alerts.alerts_for([])] == []
        scoped = await tx.alerts.alerts_for(["BDBP"], also_ids=[gone.id, report.id])
        assert [a.id for a in scoped] == [bdbp.id, gone.id, report.id]


async def test_acknowledging_changes_only_who_and_when(uow: UnitOfWork):
    async with uow.begin() as tx:
        [saved] = await tx.alerts.save_alerts([alert()])
    async with uow.begin() as tx:
        # Only acked_at/acked_by are written: a state given along is not.
        await tx.alerts.set_acknowledged(replace(saved, acked_at=T0 + H, acked_by="cat", state=RESOLVED))
    async with uow.begin() as tx:
        assert await tx.alerts.alert_by_id(saved.id) == replace(saved, acked_at=T0 + H, acked_by="cat")


async def test_a_kpi_status_is_kept_unless_the_stored_one_is_newer(uow: UnitOfWork):
    key, other = ("CA-TINH", "drug_cases_detected", "2024-06"), ("BDBP", "drug_cases_detected", "2024-06")
    risk = RememberedStatus(KpiStatus.AT_RISK, T0 + 2 * H, T0, {"actual": 2})
    async with uow.begin() as tx:
        assert await tx.alerts.kpi_statuses([key, other]) == {}
        await tx.alerts.save_kpi_statuses({})
        await tx.alerts.save_kpi_statuses(
            {key: risk, other: RememberedStatus(KpiStatus.ON_TRACK, T0, T0, {})}
        )
    async with uow.begin() as tx:
        older = RememberedStatus(KpiStatus.LAGGING, T0 + H, T0 + H, {"actual": 9})
        await tx.alerts.save_kpi_statuses({key: older})  # an older status arriving late: ignored
        assert (await tx.alerts.kpi_statuses([key, ("HQ", "x", "2024-06")])) == {key: risk}
        [at_risk] = await tx.alerts.at_risk_kpis()
        assert (at_risk.agency, at_risk.indicator, at_risk.period) == key
        assert at_risk.since == T0 and at_risk.facts == {"actual": 2}
        lagging = RememberedStatus(KpiStatus.LAGGING, T0 + 3 * H, T0 + 3 * H, {})
        await tx.alerts.save_kpi_statuses({key: lagging})
        assert await tx.alerts.kpi_statuses([key]) == {key: lagging}
        assert await tx.alerts.at_risk_kpis() == []


async def test_silences_get_ids_are_listed_while_on_and_can_be_lifted_once(uow: UnitOfWork):
    on = Silence("CA-TINH", None, None, T0, T0 + 2 * H, "đối soát", "op")
    over = Silence(None, "drug_cases_detected", None, T0 - 3 * H, T0 - H, "cũ", "op")
    async with uow.begin() as tx:
        first, second = await tx.alerts.add_silence(on, T0), await tx.alerts.add_silence(over, T0)
    assert first == replace(on, id=first.id) and second.id is not None and first.id < second.id
    async with uow.begin() as tx:
        assert await tx.alerts.list_silences() == [first, second]
        assert await tx.alerts.list_silences(T0) == [first]
        assert not await tx.alerts.expire_silence(second.id, T0)  # already over
        assert await tx.alerts.expire_silence(first.id, T0 + H)
        assert not await tx.alerts.expire_silence(first.id, T0 + H)
        assert await tx.alerts.list_silences(T0 + H) == []
        assert [s.ends_at for s in await tx.alerts.list_silences()] == [T0 + H, T0 - H]


async def test_a_silence_lifted_before_it_starts_is_read_back_as_never_active(uow: UnitOfWork):
    # It once stored ends_at <= starts_at, which no Silence accepts: listing silences answered 500.
    later = Silence("CA-TINH", None, None, T0 + 2 * H, T0 + 5 * H, "đợt sau", "op")
    async with uow.begin() as tx:
        planned = await tx.alerts.add_silence(later, T0)
        assert await tx.alerts.expire_silence(planned.id, T0)
    async with uow.begin() as tx:
        [lifted] = await tx.alerts.list_silences()
        assert (lifted.starts_at, lifted.ends_at) == (T0, T0) and not lifted.active(T0)
        assert await tx.alerts.list_silences(T0) == []


async def test_a_leaders_grouping_state_starts_empty_and_keeps_what_was_delivered(uow: UnitOfWork):
    async with uow.begin() as tx:
        assert await tx.alerts.lock_recipient("cat@qt.example") == RecipientState("cat@qt.example")
        assert await tx.alerts.recipient_states() == [RecipientState("cat@qt.example")]
        await tx.alerts.save_recipient(
            RecipientState("cat@qt.example", T0, T0 + H, {7: FIRING, 12: RESOLVED})
        )
        await tx.alerts.lock_recipient("bcd@qt.example")
        await tx.alerts.lock_recipient("cahh@qt.example")
        await tx.alerts.save_recipient(RecipientState("cahh@qt.example", first_pending_at=T0))
    async with uow.begin() as tx:
        state = await tx.alerts.lock_recipient("cat@qt.example")
        assert state == RecipientState("cat@qt.example", T0, T0 + H, {7: FIRING, 12: RESOLVED})
        states = sorted(await tx.alerts.recipient_states(), key=lambda s: s.email)
        assert states == [
            RecipientState("bcd@qt.example"),
            RecipientState("cahh@qt.example", first_pending_at=T0),
            RecipientState("cat@qt.example", T0, T0 + H, {7: FIRING, 12: RESOLVED}),
        ]


async def test_an_ack_link_is_used_once(uow: UnitOfWork):
    async with uow.begin() as tx:
        [saved] = await tx.alerts.save_alerts([alert()])
        assert await tx.alerts.use_ack_nonce("n-1", saved.id, T0)
        assert not await tx.alerts.use_ack_nonce("n-1", saved.id, T0 + H)
        assert await tx.alerts.use_ack_nonce("n-2", saved.id, T0)
