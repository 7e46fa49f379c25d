"""Two plan years in the running stack (issue 20): intake, aggregator and notifier load a folder of
plans, the shipped 2024 plan and a test successor for 2025 whose police target is 105 % of the
2024 figure Tiendo recorded (`baseline_value: recorded`, tests/plans.py).

On 14 December 2024 an agency reports its 2024 figure; intake and aggregator are restarted with
the clock on 20 January 2025, and the agency reports across the boundary. Each event is checked
and counted by its own year's plan; the 2025 target is computed from the 2024 figure recorded by
the cut-off, and stays when 2024 is corrected afterwards (the correction is reported instead); an
event for a year no plan holds is refused at its field, naming the plans loaded."""

from __future__ import annotations

import math
import uuid

import httpx
import pytest

from shared.auth import Role
from shared.auth.testing import bearer
from tests.plans import NEXT_YEAR_CODE, two_plan_folder
from tests.system.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.infra
DECEMBER, JANUARY = "2024-12-14T10:00:00+07:00", "2025-01-20T08:00:00+07:00"
POLICE, BORDER = "CA-HUONG-HOA", "BDBP"  # BDBP counts its propaganda sessions from activities
CASES = "drug_cases_detected"


@pytest.fixture
def pipe(tmp_path, kafka_bootstrap, fresh_database_url):
    folder = two_plan_folder(tmp_path / "plans", recorded_baselines=True)
    pipe = Pipeline(
        tmp_path / "stack",
        kafka_bootstrap,
        fresh_database_url,
        {"TIENDO_PLAN_FILE": str(folder), "TIENDO_NOW": DECEMBER},
    )
    pipe.up()
    yield pipe
    pipe.down()


def _event(agency: str, type_: str, data: dict, at: str, id: str | None = None) -> dict:
    return {
        "specversion": "1.0",
        "id": id or f"years-{uuid.uuid4().hex[:8]}",
        "source": f"/agencies/{agency}",
        "type": f"vn.gov.pcmt.{type_}.v1",
        "time": at,
        "data": data,
    }


def _get(pipe: Pipeline, path: str, **params) -> dict:
    answer = httpx.get(
        pipe.url("aggregator") + path, params=params, headers=bearer(Role.COMMITTEE), timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _kpis(pipe: Pipeline, agency: str) -> dict[tuple[str, str], dict]:
    return {(k["indicator"], k["period"]): k for k in _get(pipe, "/v1/kpis", agency=agency)["items"]}


def test_reporting_across_the_year_boundary_with_a_target_from_the_recorded_2024_figure(pipe):
    pipe.issue_tokens([POLICE, BORDER])

    def send(agency: str, events: list[dict]) -> list[dict]:
        answer = pipe.send(agency, events)
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    year_end = _event(
        POLICE,
        "indicator.reported",
        {"indicator": CASES, "period": "2024", "value": 48},
        DECEMBER,
        "year-2024",
    )
    assert [r["status"] for r in send(POLICE, [year_end])] == ["accepted"]
    goal = math.ceil(48 * 1.05)  # whole cases, rounded up
    provisional = wait_until(
        "the 2024 figure and the provisional 2025 target",
        lambda: (
            (k := _kpis(pipe, POLICE)).get((CASES, "2024"), {}).get("actual") == 48 and k.get((CASES, "2025"))
        ),
    )
    assert provisional["target"] == goal  # the 2025 KPI: 105 % of 48 as it stands

    for name in ("intake", "aggregator"):  # the clock moves on to 20 January 2025
        pipe.env["TIENDO_NOW"] = JANUARY
        pipe.restart_with(name)
    fix = _event(
        POLICE,
        "indicator.corrected",
        {"corrects": "year-2024", "value": 60, "reason": "bổ sung 12 vụ"},
        JANUARY,
    )
    police = send(
        POLICE,
        [
            fix,
            _event(
                POLICE, "indicator.reported", {"indicator": CASES, "period": "2025-01", "value": 3}, JANUARY
            ),
            _event(
                POLICE, "indicator.reported", {"indicator": CASES, "period": "2026-03", "value": 1}, JANUARY
            ),
        ],
    )
    assert [r["status"] for r in police] == ["accepted", "accepted", "rejected"]
    refusal = police[2]["problem"]
    assert refusal["reason"] == "outside-plan-year"
    assert f"plans loaded: 2024 (29/KH-BCĐ), 2025 ({NEXT_YEAR_CODE})" in refusal["detail"]
    assert [e["pointer"] for e in refusal["errors"]] == ["/data/period"]
    # a session on 20 December 2024 belongs to the 2025 reporting year (Decree 09/2019)
    session = {"activity": "propaganda_session", "date": "2024-12-20", "participants": 30}
    assert [r["status"] for r in send(BORDER, [_event(BORDER, "activity.recorded", session, JANUARY)])] == [
        "accepted"
    ]

    def projected():
        police_kpis, border_kpis = _kpis(pipe, POLICE), _kpis(pipe, BORDER)
        done = (
            police_kpis.get((CASES, "2024"), {}).get("actual") == 60
            and police_kpis.get((CASES, "2025"), {}).get("actual") == 3
            and border_kpis.get(("propaganda_sessions", "2025"), {}).get("actual") == 1
        )
        return (police_kpis, border_kpis) if done else None

    police_kpis, border_kpis = wait_until("both years projected", projected, timeout=90)
    assert police_kpis[(CASES, "2024")]["status"] == "achieved"  # 60 of 50
    assert police_kpis[(CASES, "2025")]["target"] == goal  # frozen: the correction came after the cut-off
    assert border_kpis[("propaganda_sessions", "2024")]["actual"] == 0  # not counted into 2024
    (baseline,) = _get(pipe, f"/v1/agencies/{POLICE}/baselines")["items"]
    assert (baseline["indicator"], baseline["year"], baseline["frozen"]) == (CASES, 2024, True)
    assert (baseline["value"], baseline["now"], baseline["changed_since"]) == (48, 60, True)
    assert baseline["frozen_at"].startswith("2024-12-15T23:59:59")
    assert [e["id"] for e in baseline["events"]] == ["year-2024"]  # recorded by the cut-off; not the fix
