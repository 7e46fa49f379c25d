"""Issue 15's statuses in the notifier: `missed` (terminal) and `no_data` (a figure is missing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.notifier.adapters.rendering import RenderContext, render
from services.notifier.domain.alerts import SEVERITY, AlertKind, Severity, kpi_signals
from services.notifier.domain.policy import DigestPolicy
from services.notifier.domain.routing import escalation_level, recipients
from shared.events import KpiStatus
from tests.notifier.helpers import PLAN_ZONE, T0, kpi_event, small_directory
from tests.notifier.unit.on_fakes import NotifierOnFakes

POLICY = DigestPolicy(timezone=PLAN_ZONE, group_wait=timedelta(0))
H, DAY = timedelta(hours=1), timedelta(days=1)


def firing(m: NotifierOnFakes) -> list[str]:
    return sorted(a.kind.value for a in m.alerts.values() if a.firing)


def body(digest, directory) -> str:
    message = render(digest, RenderContext(directory, "Tiendo <tiendo@tiendo.local>"))
    return message.get_body(("plain",)).get_content()


def test_missed_is_critical_escalates_and_is_no_forecast_hint():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(
        kpi_event(
            agency="CA-HUONG-HOA",
            status=KpiStatus.MISSED,
            previous=KpiStatus.ON_TRACK,
            actual=3,
            target=50,
            expected=50,
            forecast=3,
        ),
        T0,
    )
    assert firing(m) == ["missed"]  # not forecast_below_target on top of it
    [alert] = m.alerts.values()
    assert SEVERITY[alert.kind] is Severity.CRITICAL
    d = small_directory()
    assert escalation_level(alert, 2, POLICY, T0 + 3 * DAY) == 1  # like lagging: the parent after 3 days
    assert {r.email for r in recipients(alert, d, POLICY, T0 + 7 * DAY)} == {
        "cahh@qt.example",
        "cat@qt.example",
        "bcd@qt.example",
    }


def test_lagging_then_missed_carries_the_escalation_on_and_is_not_announced_as_resolved():
    d = small_directory()
    m = NotifierOnFakes(d, POLICY)
    m.event(kpi_event(agency="CA-HUONG-HOA", status=KpiStatus.LAGGING), T0)
    assert [dg.recipient.email for dg in m.tick(T0 + H)] == ["cahh@qt.example"]
    later = T0 + 4 * DAY  # escalated to the provincial police meanwhile
    m.event(
        kpi_event(agency="CA-HUONG-HOA", status=KpiStatus.MISSED, previous=KpiStatus.LAGGING, as_of=later),
        later,
    )
    assert firing(m) == ["missed"]
    missed = next(a for a in m.alerts.values() if a.kind is AlertKind.MISSED)
    assert missed.opened_at == T0  # the climb goes on from when the KPI fell behind
    sent = {dg.recipient.email: dg for dg in m.tick(later + H)}
    assert set(sent) == {"cahh@qt.example", "cat@qt.example"}
    own = sent["cahh@qt.example"]
    assert [a.kind for a in own.new] == [AlertKind.MISSED] and own.resolved == []  # got worse, not fixed
    text = body(own, d)
    assert "Không hoàn thành chỉ tiêu" in text and "Đã khắc phục" not in text
    assert "báo cáo giải trình nguyên nhân" in text
    lagging = next(a for a in m.alerts.values() if a.kind is AlertKind.LAGGING)
    assert lagging.id not in m.states["cahh@qt.example"].delivered  # forgotten, never reported as resolved


def test_no_data_names_the_missing_figure_and_stays_with_the_agency():
    d = small_directory()
    d.indicators["non_voluntary_addicts"] = replace(
        d.indicators["drug_cases_detected"],
        code="non_voluntary_addicts",
        name_vi="Số người nghiện không tự nguyện đăng ký cai nghiện",
        name_en="Addicts not registered voluntarily",
    )
    d.denominators[("CA-HUONG-HOA", "drug_cases_detected", "2024")] = "non_voluntary_addicts"
    m = NotifierOnFakes(d, POLICY)
    m.event(
        kpi_event(
            agency="CA-HUONG-HOA",
            period="2024",
            status=KpiStatus.NO_DATA,
            actual=5,
            target=None,
            expected=None,
            forecast=None,
        ),
        T0,
    )
    assert firing(m) == ["no_data"]
    [alert] = m.alerts.values()
    assert SEVERITY[alert.kind] is Severity.WARNING and escalation_level(alert, 2, POLICY, T0 + 30 * DAY) == 0
    [digest] = m.tick(T0 + H)
    assert digest.recipient.email == "cahh@qt.example"
    text = body(digest, d)
    assert "Chưa có số liệu" in text
    assert (
        "Chưa có số liệu “Số người nghiện không tự nguyện đăng ký cai nghiện” nên chưa xác định được" in text
    )
    english = replace(digest, recipient=replace(digest.recipient, language="en"))
    assert "“Addicts not registered voluntarily” has not been reported" in body(english, d)


def test_statuses_that_are_not_alerts():
    for status in (KpiStatus.ON_TRACK, KpiStatus.ACHIEVED):
        signals = kpi_signals(kpi_event(status=status, forecast=500).data, None)
        assert not any(s.firing for s in signals), status
    no_data = kpi_signals(kpi_event(status=KpiStatus.NO_DATA, target=None, forecast=None).data, None)
    assert [s.kind for s in no_data if s.firing] == [AlertKind.NO_DATA]
