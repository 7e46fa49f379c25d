"""Alert lifecycle from status events: open, update, resolve, stale facts, inhibition, ack."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.notifier.domain import alerts as rules
from services.notifier.domain.alerts import AlertKind, apply, inhibited, kpi_signals, report_signals
from shared.events import KpiStatus, ReportStatus
from tests.notifier.helpers import PLAN_CUTOFF_DAY, PLAN_ZONE, T0, kpi_event, report_event


def fold(signals, existing=None, now=T0):
    existing = dict(existing or {})
    for s in signals:
        after = apply(existing.get(s.fingerprint), s, now)
        if after is not None:
            existing[s.fingerprint] = after
    return existing


def firing_kinds(state):
    return sorted(a.kind.value for a in state.values() if a.firing)


def test_lagging_opens_one_alert_and_the_same_fact_twice_changes_nothing():
    event = kpi_event(status=KpiStatus.LAGGING)
    once = fold(kpi_signals(event.data, None))
    twice = fold(kpi_signals(event.data, None), once, now=T0 + timedelta(hours=1))
    assert firing_kinds(once) == ["lagging"]
    assert twice == once  # opened_at is not reset by a repeat


def test_recovery_resolves_and_a_relapse_reopens_with_a_fresh_clock():
    opened = fold(kpi_signals(kpi_event(status=KpiStatus.LAGGING).data, None))
    later = T0 + timedelta(days=1)
    healed = fold(
        kpi_signals(kpi_event(status=KpiStatus.ON_TRACK, forecast=200, as_of=later).data, None),
        opened,
        now=later,
    )
    [alert] = healed.values()
    assert alert.state == rules.RESOLVED and alert.resolved_at == later
    relapse = T0 + timedelta(days=2)
    again = fold(
        kpi_signals(kpi_event(status=KpiStatus.LAGGING, as_of=relapse).data, None), healed, now=relapse
    )
    [alert] = again.values()
    assert alert.firing and alert.opened_at == relapse and alert.acked_at is None


def test_an_older_fact_arriving_late_does_not_undo_a_newer_one():
    newer = fold(kpi_signals(kpi_event(status=KpiStatus.LAGGING, as_of=T0 + timedelta(hours=2)).data, None))
    stale = fold(kpi_signals(kpi_event(status=KpiStatus.ON_TRACK, forecast=999, as_of=T0).data, None), newer)
    assert firing_kinds(stale) == ["lagging"]


def test_at_risk_fires_only_on_the_second_consecutive_period():
    first = kpi_signals(kpi_event(status=KpiStatus.AT_RISK, forecast=500).data, None)
    second = kpi_signals(kpi_event(status=KpiStatus.AT_RISK, forecast=500).data, KpiStatus.AT_RISK)
    assert firing_kinds(fold(first)) == []
    assert firing_kinds(fold(second)) == ["at_risk_repeated"]


def test_forecast_below_target_is_an_early_warning_but_not_on_top_of_lagging():
    on_track = kpi_signals(kpi_event(status=KpiStatus.ON_TRACK, forecast=150, target=191).data, None)
    lagging = kpi_signals(kpi_event(status=KpiStatus.LAGGING, forecast=150, target=191).data, None)
    enough = kpi_signals(kpi_event(status=KpiStatus.ON_TRACK, forecast=200, target=191).data, None)
    assert firing_kinds(fold(on_track)) == ["forecast_below_target"]
    assert firing_kinds(fold(lagging)) == ["lagging"]
    assert firing_kinds(fold(enough)) == []


def test_report_missing_then_late_swaps_the_alert():
    missing = fold(report_signals(report_event(status=ReportStatus.MISSING).data))
    assert firing_kinds(missing) == ["report_missing"]
    late_at = T0 + timedelta(days=1)
    late = fold(
        report_signals(report_event(status=ReportStatus.LATE, as_of=late_at).data), missing, now=late_at
    )
    assert firing_kinds(late) == ["report_late"]


def test_figures_of_an_agency_whose_report_is_missing_are_inhibited():
    state = fold(report_signals(report_event(agency="CA-TINH", period="2024-06").data))
    state = fold(kpi_signals(kpi_event(agency="CA-TINH", period="2024").data, None), state)
    state = fold(kpi_signals(kpi_event(agency="BDBP", period="2024-06").data, None), state)
    firing = [a for a in state.values() if a.firing]
    held = sorted((a.agency, a.kind.value) for a in firing if inhibited(a, firing))
    assert held == [("CA-TINH", "lagging")]  # the yearly KPI contains June; BDBP reported


def test_first_acknowledgement_counts_and_resolved_alerts_cannot_be_acknowledged():
    [alert] = fold(kpi_signals(kpi_event().data, None)).values()
    acked = rules.acknowledge(alert, "a@x", T0 + timedelta(hours=1))
    again = rules.acknowledge(acked, "b@x", T0 + timedelta(hours=2))
    assert (again.acked_by, again.acked_at) == ("a@x", T0 + timedelta(hours=1))
    resolved = replace(alert, state=rules.RESOLVED)
    assert rules.acknowledge(resolved, "a@x", T0).acked_at is None
    assert alert.kind is AlertKind.LAGGING and alert.severity.value == "critical"


def test_at_risk_persisting_into_the_next_reporting_window_counts_as_two_periods():
    from datetime import datetime

    from tests.notifier.helpers import VN

    def at(month, day):
        return datetime(2024, month, day, 9, 0, tzinfo=VN)

    def persisted(since, now):  # in the plan's windows and zone
        return rules.risk_persisted(since, now, PLAN_CUTOFF_DAY, PLAN_ZONE)

    assert persisted(at(6, 10), at(6, 15))  # the window closes on the 14th
    assert not persisted(at(6, 15), at(7, 14))  # still the same window
    assert persisted(at(6, 15), at(7, 15))
    assert not persisted(at(6, 1), at(6, 14))


def test_the_newest_kpi_status_is_remembered_and_since_moves_only_when_the_status_does():
    from services.notifier.domain.kpi_status import RememberedStatus, remember

    h = timedelta(hours=1)
    first = remember(None, KpiStatus.AT_RISK, T0, {"actual": 1})
    assert first == RememberedStatus(KpiStatus.AT_RISK, T0, T0, {"actual": 1})
    still = remember(first, KpiStatus.AT_RISK, T0 + 2 * h, {"actual": 2})
    assert still == RememberedStatus(KpiStatus.AT_RISK, T0 + 2 * h, T0, {"actual": 2})  # since the first
    assert remember(still, KpiStatus.LAGGING, T0 + h, {"actual": 9}) is None  # older: changes nothing
    same_moment = remember(still, KpiStatus.LAGGING, T0 + 2 * h, {})
    assert same_moment == RememberedStatus(KpiStatus.LAGGING, T0 + 2 * h, T0 + 2 * h, {})
    again = remember(same_moment, KpiStatus.AT_RISK, T0 + 4 * h, {"actual": 3})
    assert again is not None and again.since == T0 + 4 * h  # at risk again: counted from then
