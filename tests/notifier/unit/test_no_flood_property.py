"""Property: whatever the status events, a leader is never flooded and nothing firing is lost."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifier.domain.alerts import FIRING, Severity
from services.notifier.domain.policy import QuietHours
from shared.events import KpiStatus, ReportStatus
from tests.notifier.helpers import DAILY_POLICY, PLAN_ZONE, T0, kpi_event, report_event, small_directory
from tests.notifier.unit.on_fakes import NotifierOnFakes

VIETNAM = ZoneInfo(PLAN_ZONE)

H = timedelta(hours=1)
POLICY = replace(DAILY_POLICY, quiet_hours=QuietHours(time(21), time(7), PLAN_ZONE))
AGENCIES = ["CA-TINH", "CA-HUONG-HOA", "UBND-HUONG-HOA", "UBND-LAO-BAO", "BCD138"]

kpi = st.builds(
    lambda agency, ind, status, period, minute: (
        minute,
        kpi_event(
            agency=agency,
            indicator=ind,
            status=status,
            period=period,
            forecast=100,
            as_of=T0 + timedelta(minutes=minute),
        ),
    ),
    st.sampled_from(AGENCIES),
    st.sampled_from(["drug_cases_detected", "propaganda_sessions"]),
    st.sampled_from(list(KpiStatus)),
    st.sampled_from(["2024-05", "2024-06"]),
    st.integers(0, 10 * 24 * 60),
)
report = st.builds(
    lambda agency, status, minute: (
        minute,
        report_event(agency=agency, status=status, as_of=T0 + timedelta(minutes=minute)),
    ),
    st.sampled_from(AGENCIES),
    st.sampled_from([ReportStatus.MISSING, ReportStatus.LATE, ReportStatus.SUBMITTED]),
    st.integers(0, 10 * 24 * 60),
)


MORNING = replace(POLICY, digest_time=time(7, 30))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(kpi, report), min_size=1, max_size=25), st.sampled_from([POLICY, MORNING]))
def test_never_a_flood_never_lost(events, policy):
    m = NotifierOnFakes(small_directory(), policy)
    events = sorted(events, key=lambda e: e[0])
    now, step, end = T0, timedelta(minutes=30), T0 + timedelta(days=12)
    while now <= end:
        while events and T0 + timedelta(minutes=events[0][0]) <= now:
            m.event(events.pop(0)[1], now)
        m.tick(now)
        now += step
    last: dict[str, object] = {}
    for digest in m.sent:
        assert not policy.quiet(digest.created_at)
        critical = any(a.severity is Severity.CRITICAL for a in digest.new)
        local = digest.created_at.astimezone(VIETNAM)
        if policy.digest_time and not critical:
            assert local.time() >= policy.digest_time, digest.created_at  # the morning digest
        previous = last.get(digest.recipient.email)
        if previous is not None:
            gap = digest.created_at - previous.created_at
            if policy.digest_time and not critical:  # at most one such email a day
                assert local.date() > previous.created_at.astimezone(VIETNAM).date()
            else:
                floor = {"repeat": policy.repeat_interval, "first": policy.group_wait}.get(
                    digest.reason, policy.critical_interval if critical else policy.group_interval
                )
                assert gap >= floor, (digest.reason, gap)
        last[digest.recipient.email] = digest
    # Days later every alert still firing and not held back reached its agency's leaders.
    for alert in m.alerts.values():
        if alert.firing:
            for leader in small_directory().agency(alert.agency).leaders:
                delivered = m.states[leader.email].delivered.get(alert.id)
                assert delivered == FIRING or _inhibited_now(m, alert), (alert, leader.email)


def _inhibited_now(m, alert) -> bool:
    from services.notifier.domain.alerts import inhibited

    return inhibited(alert, [a for a in m.alerts.values() if a.firing])
