"""Escalation with delays, stopped by acknowledgement; silences; quiet hours; commune sections."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from services.notifier.domain.digest import sections
from services.notifier.domain.policy import DigestPolicy, QuietHours
from services.notifier.domain.silences import InvalidSilence, Silence
from tests.notifier.helpers import PLAN_ZONE, T0, VN, kpi_event, report_event, small_directory
from tests.notifier.unit.on_fakes import NotifierOnFakes, to

D = timedelta(days=1)
POLICY = DigestPolicy(
    timezone=PLAN_ZONE,
    group_wait=timedelta(0),
    group_interval=timedelta(hours=1),
    critical_interval=timedelta(hours=1),
    repeat_interval=timedelta(days=30),
    escalation_delays=(3 * D, 7 * D),
)


def test_an_unacknowledged_alert_climbs_to_the_parent_then_the_committee():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(agency="CA-HUONG-HOA"), T0)
    assert to(m.tick(T0)) == ["cahh"]
    assert m.tick(T0 + 3 * D - timedelta(minutes=1)) == []
    [parent] = m.tick(T0 + 3 * D)
    assert to([parent]) == ["cat"] and parent.new[0].agency == "CA-HUONG-HOA"
    assert to(m.tick(T0 + 7 * D)) == ["bcd"]


def test_acknowledgement_stops_the_climb_where_it_is():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(agency="CA-HUONG-HOA"), T0)
    m.tick(T0)
    m.tick(T0 + 3 * D)  # parent told
    m.ack("CA-HUONG-HOA", "cahh@qt.example", T0 + 4 * D)
    assert m.tick(T0 + 8 * D) == []  # the committee is never bothered
    m2 = NotifierOnFakes(small_directory(), POLICY)
    m2.event(kpi_event(agency="CA-HUONG-HOA"), T0)
    m2.tick(T0)
    m2.ack("CA-HUONG-HOA", "cahh@qt.example", T0 + D)
    assert m2.tick(T0 + 8 * D) == []


def test_a_silence_mutes_matching_alerts_for_its_window_and_shows_in_the_footer():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.add_silence(
        Silence("CA-TINH", "drug_cases_detected", None, T0, T0 + 2 * D, "Đang đối soát số liệu", "op")
    )
    m.event(kpi_event(agency="CA-TINH", indicator="drug_cases_detected"), T0)
    m.event(kpi_event(agency="CA-TINH", indicator="propaganda_sessions"), T0)
    [digest] = m.tick(T0)
    assert [a.indicator for a in digest.new] == ["propaganda_sessions"]
    assert [s.reason for s in digest.silences] == ["Đang đối soát số liệu"]
    [after] = m.tick(T0 + 2 * D)  # the silence is over and the alert still fires
    assert [a.indicator for a in after.new] == ["drug_cases_detected"]


def test_a_silence_needs_a_scope_a_window_and_a_reason():
    for bad in [dict(agency=None, indicator=None, period=None), dict(reason=" "), dict(ends=T0 - D)]:
        args = dict(agency="X", indicator=None, period=None, reason="r", ends=T0 + D) | bad
        with pytest.raises(InvalidSilence):
            Silence(args["agency"], args["indicator"], args["period"], T0, args["ends"], args["reason"], "op")


def test_nothing_goes_out_at_night_and_it_all_goes_out_in_the_morning():
    quiet = DigestPolicy(
        timezone=PLAN_ZONE,
        group_wait=timedelta(0),
        escalation_delays=(3 * D, 7 * D),
        quiet_hours=QuietHours(time(21), time(7), PLAN_ZONE),
    )
    m = NotifierOnFakes(small_directory(), quiet)
    evening = datetime(2024, 6, 20, 22, 15, tzinfo=VN)
    m.event(kpi_event(agency="CA-TINH"), evening)
    m.event(report_event(agency="BCD138"), evening + timedelta(hours=3))
    assert m.tick(evening) == [] and m.tick(evening + timedelta(hours=8)) == []  # 06:15
    morning = m.tick(datetime(2024, 6, 21, 7, 0, tzinfo=VN))
    assert to(morning) == ["bcd", "cat"]
    assert quiet.quiet_hours.next_end(evening) == datetime(2024, 6, 21, 7, 0, tzinfo=VN)


def test_commune_alerts_fold_under_their_district_alert_on_the_same_indicator():
    m = NotifierOnFakes(small_directory(), POLICY)
    m.event(kpi_event(agency="UBND-HUONG-HOA", indicator="propaganda_sessions"), T0)
    m.event(kpi_event(agency="UBND-LAO-BAO", indicator="propaganda_sessions"), T0)
    m.event(kpi_event(agency="UBND-LAO-BAO", indicator="drug_cases_detected"), T0)
    alerts = sorted(m.alerts.values(), key=lambda a: a.id)
    got = [
        (s.head.agency, s.head.indicator, [c.agency for c in s.children])
        for s in sections(alerts, small_directory())
    ]
    assert got == [
        ("UBND-HUONG-HOA", "propaganda_sessions", ["UBND-LAO-BAO"]),
        ("UBND-LAO-BAO", "drug_cases_detected", []),
    ]


def test_the_committee_is_the_last_and_longest_step():
    assert POLICY.escalation_delay(0, 2) == 3 * D and POLICY.escalation_delay(1, 2) == 7 * D
    assert (
        POLICY.escalation_delay(0, 1) == 7 * D
    )  # a provincial department escalates straight to the committee


def test_a_late_report_is_told_once_never_escalated_nor_repeated():
    from shared.events import ReportStatus

    policy = DigestPolicy(
        timezone=PLAN_ZONE, group_wait=timedelta(0), repeat_interval=D, escalation_delays=(3 * D, 7 * D)
    )
    m = NotifierOnFakes(small_directory(), policy)
    m.event(report_event(agency="CA-HUONG-HOA", status=ReportStatus.LATE), T0)
    assert to(m.tick(T0)) == ["cahh"]
    assert m.tick(T0 + 8 * D) == []
    m.event(kpi_event(agency="CA-HUONG-HOA"), T0 + 9 * D)
    [later] = m.tick(T0 + 9 * D)
    assert [a.kind.value for a in later.new] == ["lagging"] and later.still_open == []


def test_a_new_commune_alert_joins_its_districts_open_section_marked_new():
    from services.notifier.adapters.rendering import RenderContext, render

    d = small_directory()
    m = NotifierOnFakes(d, POLICY)
    m.event(kpi_event(agency="UBND-HUONG-HOA", indicator="propaganda_sessions"), T0)
    m.tick(T0)
    m.event(kpi_event(agency="UBND-LAO-BAO", indicator="propaganda_sessions"), T0 + D)
    [digest] = [
        x for x in m.tick(T0 + 4 * D) if x.recipient.email == "ubhh@qt.example"
    ]  # escalated after 3 days
    assert [a.agency for a in digest.new] == ["UBND-LAO-BAO"] and [a.agency for a in digest.still_open] == [
        "UBND-HUONG-HOA"
    ]
    text = render(digest, RenderContext(d, "t@t.example")).get_body(("plain",)).get_content()
    assert "New alerts" not in text and "    * [NEW] [Critical] Lagging" in text
