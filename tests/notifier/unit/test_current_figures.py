"""What people read is current (issue 15): an open alert shows its KPI's figures as they stand.

The aggregator sends a figures update (`previous_status` = `status`) when a KPI's figures move
with its status unchanged; the alert takes them, and the next digest shows them. Before, the
Hướng Hóa police's email said "Thực hiện: 0 vụ, dự báo 0" while the read API said 12 and 24.
"""

from __future__ import annotations

from datetime import timedelta

from services.notifier.adapters.rendering import RenderContext, render
from services.notifier.domain import alerts as rules
from services.notifier.domain.alerts import AlertKind
from services.notifier.domain.policy import DigestPolicy
from shared.events import KpiStatus
from tests.notifier.helpers import PLAN_ZONE, T0, kpi_event, small_directory
from tests.notifier.unit.on_fakes import NotifierOnFakes

POLICY = DigestPolicy(timezone=PLAN_ZONE, group_wait=timedelta(0), repeat_interval=timedelta(hours=24))
H = timedelta(hours=1)
LAGGING, AT_RISK = KpiStatus.LAGGING, KpiStatus.AT_RISK


def text(digest) -> str:
    return (
        render(digest, RenderContext(small_directory(), "Tiendo <t@tiendo.local>"))
        .get_body(("plain",))
        .get_content()
    )


def police(status, previous, actual, forecast, at, **kw):
    return kpi_event(
        agency="CA-HUONG-HOA",
        period="2024",
        status=status,
        previous=previous,
        actual=actual,
        target=50,
        expected=25,
        forecast=forecast,
        as_of=at,
        **kw,
    )


def test_the_next_digest_shows_the_figures_as_they_stand_not_those_of_the_first_change():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(police(LAGGING, None, 0, 0, T0), T0)
    [first] = m.tick(T0 + H)
    assert "Thực hiện: 0 vụ" in text(first)
    m.event(police(LAGGING, LAGGING, 12, 24, T0 + 2 * H), T0 + 2 * H)  # figures moved, status did not
    assert m.tick(T0 + 3 * H) == []  # new figures are not news: no extra email
    [repeat] = m.tick(T0 + 25 * H)
    body = text(repeat)
    assert "Thực hiện: 12 vụ" in body and "Dự báo cuối kỳ: 24" in body and "Thực hiện: 0 vụ" not in body


def test_an_older_figures_update_arriving_late_does_not_undo_a_newer_one():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(police(LAGGING, None, 0, 0, T0), T0)
    m.event(police(LAGGING, LAGGING, 12, 24, T0 + 2 * H), T0 + 2 * H)
    m.event(police(LAGGING, LAGGING, 5, 10, T0 + H), T0 + 3 * H)
    [alert] = [a for a in m.alerts.values() if a.firing]
    assert (alert.facts["actual"], alert.facts["forecast"]) == (12, 24)


def test_a_figures_update_neither_opens_nor_closes_at_risk_two_periods_running():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(police(AT_RISK, None, 20, 45, T0), T0)
    # the notifier's own finding, a reporting window later
    signal = rules.persistent_risk_signal(
        "CA-HUONG-HOA", "drug_cases_detected", "2024", {"actual": 20, "status": "at_risk"}, T0 + 30 * 24 * H
    )
    m.add_alert(rules.apply(None, signal, T0 + 30 * 24 * H))
    m.event(police(AT_RISK, AT_RISK, 22, 46, T0 + 31 * 24 * H), T0 + 31 * 24 * H)
    alert = m.alerts[signal.fingerprint]
    assert alert.firing and alert.facts["actual"] == 22  # refreshed, not resolved
    fresh = NotifierOnFakes(small_directory(), POLICY)
    fresh.event(police(AT_RISK, AT_RISK, 22, 46, T0), T0)  # an update alone opens no such alert
    assert not any(a.kind is AlertKind.AT_RISK_REPEATED for a in fresh.alerts.values())
