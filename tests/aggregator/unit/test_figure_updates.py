"""The notifier is told when a KPI's figures move, not only its status (issue 15: an alert kept
the figures of its first status change: "Thực hiện: 0 vụ, dự báo 0" while the API said 12 and 24)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from services.aggregator.domain.changes import kpi_changes
from services.aggregator.domain.kpi import Kpi
from shared.events.models import KpiStatus as S

VN = timezone(timedelta(hours=7))
AT = datetime(2024, 6, 20, 8, tzinfo=VN)
BEFORE = Kpi("CA-HUONG-HOA", "drug_cases_detected", "2024", 0.0, 50.0, 25.0, 0.0, S.LAGGING)
NOW = replace(BEFORE, actual=12.0, forecast=24.0)


def test_moved_figures_with_the_same_status_are_sent_with_previous_status_equal_to_status():
    [event] = kpi_changes({BEFORE.key: BEFORE}, [NOW], AT)
    d = event.data
    assert (d.previous_status, d.status, d.actual, d.forecast) == (S.LAGGING, S.LAGGING, 12, 24)


def test_nothing_is_sent_for_the_same_figures_an_achieved_kpi_or_a_status_known_alone():
    assert kpi_changes({BEFORE.key: BEFORE}, [BEFORE], AT) == []
    done = replace(BEFORE, actual=50.0, status=S.ACHIEVED)
    assert kpi_changes({done.key: done}, [replace(done, actual=53.0)], AT) == []
    assert kpi_changes({BEFORE.key: S.LAGGING}, [NOW], AT) == []  # no figures to compare with


def test_two_updates_at_one_moment_have_different_ids_and_a_replay_the_same():
    a = kpi_changes({BEFORE.key: BEFORE}, [NOW], AT)
    b = kpi_changes({NOW.key: NOW}, [replace(NOW, actual=13.0)], AT)  # a frozen clock: same as_of
    assert a[0].id != b[0].id
    assert kpi_changes({BEFORE.key: BEFORE}, [NOW], AT)[0].id == a[0].id
    # a status change keeps the id it had (its figures are not part of it)
    lagging_from_risk = kpi_changes({BEFORE.key: replace(BEFORE, status=S.AT_RISK)}, [NOW], AT)
    assert lagging_from_risk == kpi_changes({BEFORE.key: S.AT_RISK}, [NOW], AT)
