"""The 2025 two-tier reform in the running stack (issue 20), with the shipped plans (2024 and the
2025 sample). In December 2024 the Khe Sanh township committee and the Hướng Hóa district
committee report their 2024 reach; intake and aggregator restart with the clock on 20 July 2025.
The district committee's June report still lands, its July one is refused naming the new
communes that took over its work; the new Khe Sanh commune committee reports July, and its H2
target is 52.5 % of its predecessors' recorded 2024 figures by their shares (all of the
township's, 0.3 of the district's)."""

from __future__ import annotations

import math
import uuid

import httpx
import pytest

from shared.auth import Role
from shared.auth.testing import bearer
from shared.settings import REPO_ROOT
from tests.system.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.infra
DECEMBER, JULY = "2024-12-10T10:00:00+07:00", "2025-07-20T08:00:00+07:00"
TOWNSHIP, DISTRICT, COMMUNE = "UBND-KHE-SANH", "UBND-HUONG-HOA", "UBND-XA-KHE-SANH"
REACH = "propaganda_participants"


@pytest.fixture
def pipe(tmp_path, kafka_bootstrap, fresh_database_url):
    pipe = Pipeline(
        tmp_path / "stack",
        kafka_bootstrap,
        fresh_database_url,
        {"TIENDO_PLAN_FILE": str(REPO_ROOT / "plans"), "TIENDO_NOW": DECEMBER},
    )
    pipe.up()
    yield pipe
    pipe.down()


def _report(agency: str, period: str, value: int, at: str) -> dict:
    return {
        "specversion": "1.0",
        "id": f"reform-{agency}-{period}-{uuid.uuid4().hex[:6]}",
        "source": f"/agencies/{agency}",
        "type": "vn.gov.pcmt.indicator.reported.v1",
        "time": at,
        "data": {"indicator": REACH, "period": period, "value": value},
    }


def _get(pipe: Pipeline, path: str, **params) -> dict:
    answer = httpx.get(
        pipe.url("aggregator") + path, params=params, headers=bearer(Role.COMMITTEE), timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _kpi(pipe: Pipeline, agency: str, period: str) -> dict | None:
    items = _get(pipe, "/v1/kpis", agency=agency)["items"]
    return next((k for k in items if (k["indicator"], k["period"]) == (REACH, period)), None)


def test_across_the_reform_the_successor_reports_with_a_target_from_its_predecessors(pipe):
    pipe.issue_tokens([TOWNSHIP, DISTRICT, COMMUNE])

    def send(agency: str, events: list[dict]) -> list[dict]:
        answer = pipe.send(agency, events)
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    year_2024 = [_report(TOWNSHIP, "2024-11", 600, DECEMBER), _report(TOWNSHIP, "2024-12", 400, DECEMBER)]
    assert [r["status"] for r in send(TOWNSHIP, year_2024)] == ["accepted", "accepted"]
    district_2024 = _report(DISTRICT, "2024-12", 2000, DECEMBER)
    assert [r["status"] for r in send(DISTRICT, [district_2024])] == ["accepted"]
    provisional = wait_until(
        "the provisional baseline of the commune to come",
        lambda: (
            (b := _get(pipe, f"/v1/agencies/{COMMUNE}/baselines")["items"]) and b[0]["now"] == 1600 and b[0]
        ),
    )
    assert (provisional["frozen"], provisional["value"]) == (False, 1600)  # before the 2024 cut-offs

    for name in ("intake", "aggregator"):  # the clock moves on to 20 July 2025, after the reform
        pipe.env["TIENDO_NOW"] = JULY
        pipe.restart_with(name)
    district = send(
        DISTRICT, [_report(DISTRICT, "2025-06", 300, JULY), _report(DISTRICT, "2025-07", 50, JULY)]
    )
    assert [r["status"] for r in district] == ["accepted", "rejected"]  # its last period; then not its
    refusal = district[1]["problem"]
    assert refusal["reason"] == "agency-not-in-force" and refusal["status"] == 422
    assert [e["pointer"] for e in refusal["errors"]] == ["/source"]
    assert (
        "made by UBND-XA-KHE-SANH (Khe Sanh Commune People's Committee), UBND-XA-LAO-BAO" in refusal["detail"]
    )
    commune = send(COMMUNE, [_report(COMMUNE, "2025-07", 150, JULY), _report(COMMUNE, "2025-06", 10, JULY)])
    assert [r["status"] for r in commune] == ["accepted", "rejected"]
    assert "in force only from 2025-07-01" in commune[1]["problem"]["detail"]

    h2 = wait_until(
        "the new commune's H2 figure",
        lambda: (k := _kpi(pipe, COMMUNE, "2025-H2")) and k["actual"] == 150 and k,
    )
    assert h2["target"] == math.ceil(0.525 * (600 + 400 + 0.3 * 2000))  # 840
    (baseline,) = _get(pipe, f"/v1/agencies/{COMMUNE}/baselines")["items"]
    assert (baseline["year"], baseline["frozen"], baseline["value"]) == (2024, True, 1600)
    assert sorted(e["source"] for e in baseline["events"]) == [
        f"/agencies/{DISTRICT}",
        f"/agencies/{TOWNSHIP}",
        f"/agencies/{TOWNSHIP}",
    ]
