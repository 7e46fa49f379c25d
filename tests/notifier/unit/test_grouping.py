"""group_wait, group_interval, critical interval, repeat_interval and resolved notices."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta

from services.notifier.domain.alerts import Severity
from services.notifier.domain.policy import DigestPolicy, QuietHours
from shared.events import KpiStatus, ReportStatus
from tests.notifier.helpers import DAILY_POLICY, PLAN_ZONE, T0, VN, kpi_event, report_event, small_directory
from tests.notifier.unit.on_fakes import NotifierOnFakes, to

H = timedelta(hours=1)
POLICY = DAILY_POLICY


def test_group_wait_collects_a_burst_into_one_email():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(indicator="drug_cases_detected"), T0)
    assert m.tick(T0) == []
    m.event(kpi_event(indicator="propaganda_sessions"), T0 + timedelta(minutes=20))
    assert m.tick(T0 + timedelta(minutes=29)) == []
    [digest] = m.tick(T0 + timedelta(minutes=30))
    assert to([digest]) == ["cat"] and len(digest.new) == 2 and digest.reason == "first"
    assert m.tick(T0 + timedelta(minutes=31)) == []  # nothing new: nothing sent


def test_a_new_warning_waits_for_the_group_interval_a_new_critical_only_for_the_critical_interval():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(indicator="drug_cases_detected"), T0)
    assert len(m.tick(T0 + H)) == 1
    # A warning (at risk twice) one hour later: held until a day after the first email.
    m.event(
        kpi_event(indicator="propaganda_sessions", period="2024-05", status=KpiStatus.AT_RISK, forecast=999),
        T0 + H,
    )
    m.event(
        kpi_event(indicator="propaganda_sessions", period="2024-06", status=KpiStatus.AT_RISK, forecast=999),
        T0 + H,
    )
    assert m.tick(T0 + 20 * H) == []
    [update] = m.tick(T0 + 25 * H)
    assert [a.kind.value for a in update.new] == ["at_risk_repeated"] and update.reason == "update"
    # A new critical (report missing) goes out after the critical interval, not the next day.
    m.event(report_event(period="2024-06", status=ReportStatus.MISSING), T0 + 26 * H)
    assert m.tick(T0 + 26 * H) == []
    [urgent] = m.tick(T0 + 27 * H)
    assert [a.kind.value for a in urgent.new] == ["report_missing"]


def test_repeat_interval_reminds_of_open_alerts_unless_acknowledged():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(), T0)
    assert len(m.tick(T0 + H)) == 1
    assert m.tick(T0 + 24 * H) == []
    [reminder] = m.tick(T0 + 25 * H)
    assert reminder.reason == "repeat" and len(reminder.still_open) == 1 and not reminder.new
    m.ack("lagging|CA-TINH", "cat@qt.example", T0 + 26 * H)
    assert m.tick(T0 + 60 * H) == []  # acknowledged: no more reminders


def test_resolved_goes_to_whoever_was_told_it_fired_in_the_next_digest():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(), T0)
    m.tick(T0 + H)
    m.event(kpi_event(status=KpiStatus.ON_TRACK, forecast=500, as_of=T0 + 2 * H), T0 + 2 * H)
    assert m.tick(T0 + 3 * H) == []  # resolution is not urgent: it waits for the group interval
    [notice] = m.tick(T0 + 25 * H)
    assert [a.state for a in notice.resolved] == ["resolved"] and not notice.new
    assert m.tick(T0 + 72 * H) == []


def test_the_idempotency_key_is_the_due_moment_not_the_tick():
    a, b = NotifierOnFakes(small_directory(), POLICY), NotifierOnFakes(small_directory(), POLICY)
    for m in (a, b):
        m.event(kpi_event(), T0)
    [first] = a.tick(T0 + timedelta(minutes=31))
    [second] = b.tick(T0 + timedelta(minutes=47))  # a replay after a crash ticks at another time
    assert first.idempotency_key == second.idempotency_key
    assert first.idempotency_key.startswith(
        f"cat@qt.example|digest|{(T0 + timedelta(minutes=30)).isoformat()}|"
    )


def test_with_a_morning_digest_non_critical_news_waits_for_the_morning_critical_does_not():
    S = KpiStatus
    policy = DigestPolicy(
        timezone=PLAN_ZONE,
        group_wait=timedelta(minutes=30),
        critical_interval=2 * H,
        repeat_interval=24 * H,
        digest_time=time(7, 30),
    )
    m = NotifierOnFakes(small_directory(), policy)
    afternoon = datetime(2024, 6, 20, 14, 0, tzinfo=VN)
    m.event(kpi_event(period="2024-05", status=S.AT_RISK, forecast=999), afternoon)
    m.event(kpi_event(period="2024-06", status=S.AT_RISK, forecast=999), afternoon)  # a warning
    assert m.tick(afternoon + H) == []
    [first] = m.tick(datetime(2024, 6, 21, 7, 30, tzinfo=VN))
    assert first.window == datetime(2024, 6, 21, 7, 30, tzinfo=VN)
    m.event(kpi_event(indicator="propaganda_sessions"), datetime(2024, 6, 21, 9, 0, tzinfo=VN))  # critical
    assert len(m.tick(datetime(2024, 6, 21, 9, 30, tzinfo=VN))) == 1
    reminders = [m.tick(datetime(2024, 6, d, h, 0, tzinfo=VN)) for d in (22, 23) for h in (7, 8, 12)]
    assert [len(r) for r in reminders] == [0, 1, 0, 0, 1, 0]  # one reminder each morning, 07:30 slot


def test_two_digests_due_at_the_same_moment_never_share_a_key():
    policy = DigestPolicy(timezone=PLAN_ZONE, group_wait=timedelta(0), critical_interval=timedelta(0))
    m = NotifierOnFakes(small_directory(), policy)
    m.event(kpi_event(indicator="drug_cases_detected"), T0)
    [first] = m.tick(T0)
    m.event(kpi_event(indicator="propaganda_sessions"), T0)
    [second] = m.tick(T0)
    assert first.window == second.window and first.idempotency_key != second.idempotency_key


def test_news_past_due_by_the_end_of_the_quiet_hours_still_waits_for_the_morning_digest():
    """Found by the no-flood property: a resolution and a forecast warning arrive in the night, due
    (from when they happened) before it; quiet hours end at 07:00, the morning digest is 07:30."""
    policy = replace(
        DAILY_POLICY, quiet_hours=QuietHours(time(21), time(7), PLAN_ZONE), digest_time=time(7, 30)
    )
    m = NotifierOnFakes(small_directory(), policy)
    arrivals = [
        (T0, kpi_event(period="2024-05", status=KpiStatus.ACHIEVED, forecast=100, as_of=T0)),
        (
            T0 + timedelta(minutes=2007),
            kpi_event(status=KpiStatus.ON_TRACK, forecast=100, as_of=T0 + timedelta(minutes=2007)),
        ),
        (
            T0 + timedelta(minutes=2488),
            report_event(status=ReportStatus.MISSING, as_of=T0 + timedelta(minutes=2488)),
        ),
        (
            T0 + timedelta(minutes=3701),
            report_event(status=ReportStatus.SUBMITTED, as_of=T0 + timedelta(minutes=3701)),
        ),
    ]
    now = T0
    while now <= datetime(2024, 6, 23, 12, 0, tzinfo=VN):
        while arrivals and arrivals[0][0] <= now:
            m.event(arrivals.pop(0)[1], now)
        m.tick(now)
        now += timedelta(minutes=30)
    sent = [(d.created_at, [a.severity for a in d.new]) for d in m.sent]
    assert sent == [
        (datetime(2024, 6, 22, 7, 0, tzinfo=VN), [Severity.CRITICAL]),  # the missing report: at the quiet end
        (
            datetime(2024, 6, 23, 7, 30, tzinfo=VN),
            [Severity.INFO],
        ),  # resolution and warning: the morning digest
    ]
