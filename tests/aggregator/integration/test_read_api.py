"""The read API over a real projection: filters, scorecard, audit trail, time travel, metrics."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.auth import Role
from shared.auth.testing import bearer
from shared.clock import ManualClock
from tests.aggregator import helpers

pytestmark = pytest.mark.infra
VN = timezone(timedelta(hours=7))
OPENAPI = Path(__file__).resolve().parents[3] / "docs" / "openapi-aggregator.json"


@pytest.fixture(scope="module")
async def api(kafka_bootstrap, module_db):
    topics = helpers.unique_topics("api")
    await helpers.create_topics(kafka_bootstrap, topics)
    events = [
        *helpers.corrected_figures(),
        helpers.event(
            "HQ", "report.submitted", {"period": "2024-06"}, time=datetime(2024, 6, 19, 9, tzinfo=VN)
        ),
    ]
    # `as_of` reads what the aggregator had recorded by then: each event arrives an hour after its
    # time, except a late one: May's figure of the Hướng Hóa police, dated 20 May, sent on 19 June
    late = helpers.reported(
        "CA-HUONG-HOA",
        "drug_cases_detected",
        "2024-05",
        7,
        id="late",
        time=datetime(2024, 5, 20, 9, tzinfo=VN),
    )
    arrivals = sorted(
        [(e.time + timedelta(hours=1), e) for e in events] + [(datetime(2024, 6, 19, 12, tzinfo=VN), late)],
        key=lambda pair: pair[0],
    )
    clock = ManualClock(arrivals[0][0])
    async with helpers.running(helpers.settings_for(kafka_bootstrap, module_db, topics), clock=clock) as agg:
        for moment, e in arrivals:
            clock.set(moment)
            await helpers.produce(kafka_bootstrap, topics["TIENDO_EVENTS_TOPIC"], [e])
            await helpers.until_caught_up(kafka_bootstrap, topics, every=0.1)
        clock.set(helpers.NOW)
        agg.consumer.force_check.set()  # every KPI judged at NOW, as the tests below read them

        async def checked():
            return not agg.consumer.force_check.is_set()

        await helpers.wait_until(checked, timeout=30)
        async with helpers.committee_api(agg) as client:
            yield client


async def test_current_kpis_with_filters(api):
    body = (
        await api.get("/v1/kpis", params={"agency": "CA-TINH", "indicator": "drug_cases_detected"})
    ).json()
    [kpi] = body["items"]
    assert (kpi["actual"], kpi["period"], kpi["target"]) == (
        95,
        "2024",
        192,
    )  # 191.1, rounded up to whole cases
    assert kpi["forecast"] > kpi["actual"] and kpi["status"] == "on_track"
    lagging = (await api.get("/v1/kpis", params={"status": "lagging"})).json()["items"]
    assert lagging and {k["status"] for k in lagging} == {"lagging"}
    q2 = (await api.get("/v1/kpis", params={"period": "2024-Q2"})).json()["items"]
    assert q2 and {k["period"] for k in q2} == {"2024-Q2"}
    assert (await api.get("/v1/kpis", params={"period": "2024-Q7"})).status_code == 422


async def test_time_travel_rebuilds_the_figures_as_they_stood(api):
    may = (
        await api.get(
            "/v1/kpis",
            params={"agency": "CA-TINH", "indicator": "drug_cases_detected", "as_of": "2024-05-31"},
        )
    ).json()["items"]
    assert may[0]["actual"] == 60
    before_fix = (
        await api.get(
            "/v1/kpis",
            params={
                "agency": "CA-TINH",
                "indicator": "drug_cases_detected",
                "as_of": "2024-06-11T12:00:00+07:00",
            },
        )
    ).json()["items"]
    assert before_fix[0]["actual"] == 100
    card = (await api.get("/v1/agencies/HQ/scorecard", params={"as_of": "2024-06-18"})).json()
    june = next(r for r in card["reports"] if r["period"] == "2024-06")
    assert june["status"] == "missing"  # HQ's June deadline is the 17th; it submitted on the 19th
    assert (await api.get("/v1/kpis", params={"as_of": "yesterday"})).status_code == 422


async def test_as_of_is_what_the_system_knew_then(api):
    """A late, back-dated report is not part of the past it is dated in: it shows from the moment
    it was recorded, with its own time and its recording time in the history."""

    def figure(items):
        return next(k for k in items if k["period"] == "2024")["actual"]

    params = {"agency": "CA-HUONG-HOA", "indicator": "drug_cases_detected"}
    before = (await api.get("/v1/kpis", params={**params, "as_of": "2024-06-18"})).json()["items"]
    assert figure(before) == 0  # dated 20 May, but nobody knew of it on 18 June
    after = (await api.get("/v1/kpis", params={**params, "as_of": "2024-06-19T13:00:00+07:00"})).json()[
        "items"
    ]
    assert figure(after) == 7
    path = "/v1/kpis/CA-HUONG-HOA/drug_cases_detected/2024/history"
    assert (await api.get(path, params={"as_of": "2024-06-18"})).json()["events"] == []
    [entry] = (await api.get(path)).json()["events"]
    assert (
        entry["id"],
        datetime.fromisoformat(entry["time"]),
        datetime.fromisoformat(entry["recorded_at"]),
    ) == ("late", datetime(2024, 5, 20, 9, tzinfo=VN), datetime(2024, 6, 19, 12, tzinfo=VN))
    # the history as it stood before the correction: judged then, without it
    body = (
        await api.get(
            "/v1/kpis/CA-TINH/drug_cases_detected/2024/history", params={"as_of": "2024-06-11T12:00:00+07:00"}
        )
    ).json()
    assert [(e["id"], e["role"], e["value"]) for e in body["events"]] == [
        ("r1", "superseded", 60),
        ("r2", "applied", 100),
    ]
    assert body["kpi"]["actual"] == 100 and body["kpi"]["evaluated_at"] == "2024-06-11T12:00:00+07:00"
    assert (await api.get(path, params={"as_of": "yesterday"})).status_code == 422


async def test_the_province_wide_figure_and_the_rollups_count_each_agency_once(api):
    # the provincial police's 95 (after its correction) and the Hướng Hóa police's late 7
    body = (await api.get("/v1/province", params={"indicator": "drug_cases_detected"})).json()
    [cases] = body["items"]
    assert (body["period"], cases["actual"]) == ("2024", 102)
    assert [(a["agency"], a["actual"]) for a in cases["agencies"] if a["actual"] is not None] == [
        ("CA-TINH", 102)
    ]
    [police] = (
        await api.get("/v1/rollups", params={"agency": "CA-TINH", "indicator": "drug_cases_detected"})
    ).json()["items"]
    assert (police["actual"], police["own"]) == (102, 95)
    district_police = [
        a.code for a in helpers.PLAN.agencies if a.kind == "district_police"
    ]  # all 10 (issue 20)
    assert {p["agency"]: p["actual"] for p in police["parts"]} == {
        **dict.fromkeys(district_police),
        "CA-HUONG-HOA": 7,
    }
    assert len(police["parts"]) == 10
    before = (
        await api.get("/v1/province", params={"indicator": "drug_cases_detected", "as_of": "2024-06-18"})
    ).json()["items"][0]
    assert before["actual"] == 95  # what was known on 18 June
    everything = (await api.get("/v1/province", params={"period": "2024-Q2"})).json()["items"]
    assert len(everything) == len(helpers.PLAN.indicators)
    assert (await api.get("/v1/rollups", params={"agency": "NOBODY"})).status_code == 422


async def test_scorecard_lists_every_indicator_and_the_reports(api):
    card = (await api.get("/v1/agencies/CA-TINH/scorecard", params={"period": "2024"})).json()
    assert {k["indicator"] for k in card["kpis"]} == {
        "drug_cases_detected",
        "compulsory_rehab_dossiers",
        "communes_3_good",
        "programme_tasks_implemented",  # task 1 of the plan (issue 20)
    }
    assert all("forecast" in k and "status" in k for k in card["kpis"])
    figures = {f["indicator"]: f for f in card["figures"]}
    assert figures["drug_cases_detected"]["actual"] == 95 and figures["drug_cases_detected"]["has_target"]
    assert figures["drug_users_managed"] == {
        "indicator": "drug_users_managed",
        "period": "2024",
        "actual": None,
        "has_target": False,
    }
    hq = (await api.get("/v1/agencies/HQ/scorecard")).json()
    statuses = {r["period"]: r["status"] for r in hq["reports"]}
    assert (
        statuses["2024-05"] == "submitted"
        and statuses["2024-06"] == "late"
        and statuses["2024-04"] == "missing"
    )
    assert (await api.get("/v1/agencies/NOBODY/scorecard")).status_code == 404


async def test_history_lists_the_events_behind_a_figure(api):
    body = (await api.get("/v1/kpis/CA-TINH/drug_cases_detected/2024/history")).json()
    trail = [(e["id"], e["role"], e["value"]) for e in body["events"]]
    assert trail == [("r1", "superseded", 60), ("r2", "applied", 95), ("c1", "correction", 95)]
    assert body["events"][2]["reason"] == "trùng 5 vụ" and body["kpi"]["actual"] == 95


async def test_health_readiness_and_metrics(api):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).status_code == 200
    metrics = (await api.get("/metrics/")).text
    assert 'aggregator_events_applied_total{type="all"} 6.0' in metrics
    assert "aggregator_consumer_lag_records{partition=" in metrics
    assert "aggregator_batch_duration_seconds_bucket" in metrics


@pytest.mark.parametrize(
    "path, params, name",
    [
        ("/v1/kpis", {"as_of": "9999-12-31T23:59:59-12:00"}, "as_of"),  # no UTC spelling: it was a 500
        ("/v1/agencies/CA-TINH/scorecard", {"as_of": "9999-12-31T23:59:59-12:00"}, "as_of"),
        ("/v1/kpis", {"as_of": "0001-01-01T00:00:00+01:00"}, "as_of"),
        ("/v1/kpis", {"as_of": "9999-12-31"}, "as_of"),
        ("/v1/kpis", {"as_of": "1999-12-31T12:00:00+00:00"}, "as_of"),
        ("/v1/kpis", {"as_of": "2024-06-11T12:00:00"}, "as_of"),
        ("/v1/kpis", {"agency": "\x00"}, "agency"),
        ("/v1/kpis", {"agency": "A" * 65}, "agency"),
        ("/v1/kpis", {"agency": "NOBODY"}, "agency"),
        ("/v1/kpis", {"indicator": "no_such_indicator"}, "indicator"),
        ("/v1/kpis", {"period": "0000"}, "period"),
        ("/v1/agencies/CA%00TINH/scorecard", {}, "code"),
        ("/v1/agencies/CA-TINH/scorecard", {"period": "2024-13"}, "period"),
        ("/v1/kpis/CA-TINH/drug_cases_detected/9999-99/history", {}, "period"),
    ],
)
async def test_a_hostile_parameter_is_answered_422_naming_it(api, path, params, name):
    response = await api.get(path, params=params)
    assert response.status_code == 422, response.text[:300]
    assert name in json.dumps(response.json()["detail"])


@pytest.mark.parametrize(
    "path",
    ["/v1/kpis/NOBODY/drug_cases_detected/2024/history", "/v1/kpis/CA-TINH/no_such_indicator/2024/history"],
)
async def test_an_unknown_code_in_a_path_is_404(api, path):
    response = await api.get(path)
    assert response.status_code == 404 and "unknown" in response.json()["detail"]


async def test_the_committed_openapi_document_is_current(api):
    live = (await api.get("/openapi.json")).json()
    assert json.loads(OPENAPI.read_text()) == live, "regenerate docs/openapi-aggregator.json"


async def test_scope_notes_and_the_audit_log(api):
    """A leader reads their agency and those below it, an operator never a note or a reason, and
    every read is in the audit log the committee queries."""
    district = bearer(Role.LEADER, "CA-HUONG-HOA", name="Lãnh đạo Công an huyện Hướng Hóa")
    own = (await api.get("/v1/kpis", headers=district)).json()["items"]
    assert own and {k["agency"] for k in own} == {"CA-HUONG-HOA"}
    police = (await api.get("/v1/kpis", headers=bearer(Role.LEADER, "CA-TINH"))).json()["items"]
    assert {"CA-TINH", "CA-HUONG-HOA"} <= {k["agency"] for k in police}
    assert not {k["agency"] for k in police} & {"HQ", "BCD138", "SYT"}
    assert (await api.get("/v1/agencies/CA-TINH/scorecard", headers=district)).status_code == 403

    path = "/v1/kpis/CA-TINH/drug_cases_detected/2024/history"
    operator = (await api.get(path, headers=bearer(Role.OPERATOR))).json()["events"]
    committee = (await api.get(path)).json()["events"]
    assert committee[2]["reason"] == committee[2]["data"]["reason"] == "trùng 5 vụ"
    assert [(e["id"], e["value"]) for e in operator] == [(e["id"], e["value"]) for e in committee]
    assert "reason" not in operator[2] and "reason" not in operator[2]["data"]

    audit = (
        await api.get("/v1/audit", params={"principal": "test-leader-CA-HUONG-HOA", "agency": "CA-TINH"})
    ).json()["items"]
    [denied] = audit
    assert (denied["outcome"], denied["role"], denied["name"], denied["endpoint"]) == (
        "denied",
        "leader",
        "Lãnh đạo Công an huyện Hướng Hóa",
        "/v1/agencies/CA-TINH/scorecard",
    )
    reads = (await api.get("/v1/audit", params={"principal": "test-operator-all", "limit": 1})).json()
    [read] = reads["items"]
    assert (read["endpoint"], read["agency"], read["outcome"]) == (path, "CA-TINH", "allowed")
    assert reads["next_before"] == read["id"]
    assert (await api.get("/v1/audit", params={"limit": 1001})).status_code == 422
    assert (await api.get("/v1/audit", headers=district)).status_code == 403
