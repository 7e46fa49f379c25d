"""Two plan years in the running stack: intake, aggregator and notifier load a folder of plans
(the shipped 2024 plan and a test successor for 2025), and on 20 January 2025 an agency reports
across the 14 December boundary. Each event is checked and counted by its own year's plan; one
for a year no plan holds is refused at its field, naming the plans loaded."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import httpx
import pytest

from services.intake.adapters.tokens import issue_tokens
from shared.auth import Role
from shared.auth.testing import bearer, jwks_file
from shared.stack import StackPaths, down, up
from tests.plans import NEXT_YEAR_CODE, two_plan_folder

pytestmark = pytest.mark.infra
NOW = "2025-01-20T08:00:00+07:00"
POLICE, BORDER = "CA-HUONG-HOA", "BDBP"  # BDBP counts its propaganda sessions from activities


@pytest.fixture
def stack(tmp_path, kafka_bootstrap, fresh_database_url):
    tag = uuid.uuid4().hex[:8]
    paths = StackPaths(tmp_path / "stack")
    env = {
        "TIENDO_PLAN_FILE": str(two_plan_folder(tmp_path / "plans")),
        "TIENDO_RAW_TOPIC": f"years-raw-{tag}",
        "TIENDO_EVENTS_TOPIC": f"years-events-{tag}",
        "TIENDO_DLQ_TOPIC": f"years-dlq-{tag}",
        "TIENDO_STATUS_TOPIC": f"years-status-{tag}",
        "AGGREGATOR_GROUP_ID": f"years-agg-{tag}",
        "NOTIFIER_CONSUMER_GROUP": f"years-notifier-{tag}",
        "AUTH_JWKS_FILE": str(jwks_file()),
    }
    state = up(
        paths,
        print,
        now=NOW,
        extra_env=env,
        kafka_bootstrap=kafka_bootstrap,
        database_url=fresh_database_url,
        stable_ports=False,
    )
    yield state
    down(paths, print)


def _event(agency: str, type_: str, data: dict, at: str = NOW) -> dict:
    return {
        "specversion": "1.0",
        "id": f"years-{uuid.uuid4().hex[:8]}",
        "source": f"/agencies/{agency}",
        "type": f"vn.gov.pcmt.{type_}.v1",
        "time": at,
        "data": data,
    }


def _kpis(aggregator: str, agency: str) -> dict[tuple[str, str], dict]:
    items = httpx.get(
        f"{aggregator}/v1/kpis", params={"agency": agency}, headers=bearer(Role.COMMITTEE), timeout=10
    ).json()["items"]
    return {(k["indicator"], k["period"]): k for k in items}


def test_an_agency_reports_across_the_year_boundary_each_year_by_its_plan(stack):
    intake, aggregator = stack["components"]["intake"]["url"], stack["components"]["aggregator"]["url"]
    tokens = asyncio.run(issue_tokens(stack["database_url"], [POLICE, BORDER], datetime.fromisoformat(NOW)))

    def send(agency: str, events: list[dict]) -> list[dict]:
        answer = httpx.post(
            f"{intake}/v1/events/batch",
            json=events,
            timeout=30,
            headers={
                "Authorization": f"Bearer {tokens[agency]}",
                "Content-Type": "application/cloudevents-batch+json",
            },
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    police = send(
        POLICE,
        [
            _event(
                POLICE,
                "indicator.reported",
                {"indicator": "drug_cases_detected", "period": "2024", "value": 48},
            ),
            _event(
                POLICE,
                "indicator.reported",
                {"indicator": "drug_cases_detected", "period": "2025-01", "value": 3},
            ),
            _event(
                POLICE,
                "indicator.reported",
                {"indicator": "drug_cases_detected", "period": "2026-03", "value": 1},
            ),
        ],
    )
    assert [r["status"] for r in police] == ["accepted", "accepted", "rejected"]
    refusal = police[2]["problem"]
    assert refusal["reason"] == "outside-plan-year"
    assert f"plans loaded: 2024 (29/KH-BCĐ), 2025 ({NEXT_YEAR_CODE})" in refusal["detail"]
    assert [e["pointer"] for e in refusal["errors"]] == ["/data/period"]
    # a session on 20 December 2024 belongs to the 2025 reporting year (Decree 09/2019)
    border = send(
        BORDER,
        [
            _event(
                BORDER,
                "activity.recorded",
                {"activity": "propaganda_session", "date": "2024-12-20", "participants": 30},
                "2024-12-20T09:00:00+07:00",
            )
        ],
    )
    assert [r["status"] for r in border] == ["accepted"], border

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        police_kpis, border_kpis = _kpis(aggregator, POLICE), _kpis(aggregator, BORDER)
        last = police_kpis.get(("drug_cases_detected", "2024"), {})
        this = police_kpis.get(("drug_cases_detected", "2025"), {})
        sessions = border_kpis.get(("propaganda_sessions", "2025"), {})
        if last.get("actual") == 48 and this.get("actual") == 3 and sessions.get("actual") == 1:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"not projected: {police_kpis} {border_kpis}")
    assert last["status"] == "missed" and last["target"] == 50  # the 2024 year is over, 48 of 50
    assert this["status"] != "missed"  # the 2025 year has just begun
    assert border_kpis[("propaganda_sessions", "2024")]["actual"] == 0  # not counted into 2024
