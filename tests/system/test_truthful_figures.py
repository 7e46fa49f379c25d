"""Issue 15's scenarios end to end: events sent to intake over HTTP, applied by the aggregator
(real Kafka and PostgreSQL), read back from the aggregator's read API with `as_of`, asserting the
status and figure a leader sees.

`as_of` is what the system knew at a moment (events *recorded* by then, by the aggregator's
clock), so a scenario judged on 20 March needs its events recorded on 20 March: the stack runs
in phases, the aggregator restarted with its clock pinned (TIENDO_NOW) to each phase's day;
intake runs at the last phase's clock throughout (it refuses events dated after its now).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import pytest

from shared.infra import create_database, drop_database
from shared.infra._process import pid_alive
from shared.plan import PlanError, load_plan
from shared.settings import DEFAULT_PLAN
from tests.system.pipeline import Pipeline, api_get, wait_until

pytestmark = pytest.mark.infra
PHASES = {
    "20 March": "2024-03-20T08:00:00+07:00",
    "18 April": "2024-04-18T08:00:00+07:00",
    "20 June": "2024-06-20T08:00:00+07:00",
    "10 July": "2024-07-10T08:00:00+07:00",
}
LAST = PHASES["10 July"]


def ev(agency: str, kind: str, data: dict, at: str, id: str | None = None) -> dict:
    return {
        "specversion": "1.0",
        "id": id or f"tf-{uuid.uuid4().hex[:10]}",
        "source": f"/agencies/{agency}",
        "type": f"vn.gov.pcmt.{kind}.v1",
        "time": at,
        "data": data,
    }


def figure(agency, indicator, period, value, at, id=None):
    return ev(
        agency, "indicator.reported", {"indicator": indicator, "period": period, "value": value}, at, id
    )


def submitted(agency, period, at):
    return ev(agency, "report.submitted", {"period": period}, at)


def activity(agency, kind, day, at=None, participants=30):
    return ev(
        agency,
        "activity.recorded",
        {"activity": kind, "date": day, "participants": participants},
        at or f"{day}T16:00:00+07:00",
    )


def correction(agency, corrects, value, at, id):
    return ev(
        agency,
        "indicator.corrected",
        {"corrects": corrects, "value": value, "reason": f"recount {id}"},
        at,
        id,
    )


@dataclass
class Scenario:
    name: str
    phase: str
    send: list[tuple[dict, int, str | None]]  # event, HTTP status expected, reason of a refusal
    # (as_of, agency, indicator, period) -> the KPI fields a leader must see
    sees: dict[tuple[str | None, str, str, str], dict] = field(default_factory=dict)


A, B, C = "tf-chain-report", "tf-chain-fix-1", "tf-chain-fix-2"
SCENARIOS = [
    Scenario(
        "a district committee's 1 session in Q2 is on track on 18 April (step pace: 0 due, not 0.34)",
        "18 April",
        [
            (
                figure("UBND-DONG-HA", "propaganda_sessions", "2024-03", 1, "2024-03-16T09:00:00+07:00"),
                202,
                None,
            ),
            (submitted("UBND-DONG-HA", "2024-03", "2024-03-16T09:00:00+07:00"), 202, None),
            (
                figure("UBND-DONG-HA", "propaganda_sessions", "2024-04", 0, "2024-04-16T09:00:00+07:00"),
                202,
                None,
            ),
            (submitted("UBND-DONG-HA", "2024-04", "2024-04-16T09:00:00+07:00"), 202, None),
        ],
        {
            ("2024-04-18", "UBND-DONG-HA", "propaganda_sessions", "2024-Q2"): {
                "status": "on_track",
                "actual": 0,
                "target": 1,
                "expected": 0,
            },
            ("2024-04-18", "UBND-DONG-HA", "propaganda_sessions", "2024-Q1"): {
                "status": "achieved",
                "actual": 1,
            },
        },
    ),
    Scenario(
        "a department's 2 inspections in H1 are on track on 20 March with none done yet",
        "20 March",
        [
            (
                figure("SLDTBXH", "inspections_conducted", "2024-Q1", 0, "2024-03-18T09:00:00+07:00"),
                202,
                None,
            ),
            (submitted("SLDTBXH", "2024-Q1", "2024-03-18T09:00:00+07:00"), 202, None),
        ],
        {
            ("2024-03-20", "SLDTBXH", "inspections_conducted", "2024-H1"): {
                "status": "on_track",
                "actual": 0,
                "target": 2,
                "expected": 0,
            }
        },
    ),
    Scenario(
        "a correction of a correction: the chain's latest link gives the figure",
        "20 June",
        [
            (
                figure("CA-DONG-HA", "drug_cases_detected", "2024", 10, "2024-06-15T09:00:00+07:00", A),
                202,
                None,
            ),
            (correction("CA-DONG-HA", A, 12, "2024-06-16T09:00:00+07:00", B), 202, None),
            (correction("CA-DONG-HA", B, 14, "2024-06-17T09:00:00+07:00", C), 202, None),
        ],
        {("2024-06-20", "CA-DONG-HA", "drug_cases_detected", "2024"): {"actual": 14, "target": 36}},
    ),
    Scenario(
        "an activity of 20 Dec 2023 counts into 2024; one of 20 Dec 2024 is refused with a clear 422",
        "20 June",
        [
            (activity("STTTT", "propaganda_session", "2023-12-20"), 202, None),
            (
                activity("STTTT", "propaganda_session", "2024-12-20", at="2024-06-19T10:00:00+07:00"),
                422,
                "outside-plan-year",
            ),
        ],
        {("2024-06-20", "STTTT", "propaganda_sessions", "2024"): {"actual": 1, "target": 24}},
    ),
    Scenario(
        "a figure made from activities refuses a reported value, and one reported refuses an activity",
        "20 June",
        [
            (
                figure("STTTT", "propaganda_sessions", "2024-01", 1, "2024-06-18T09:00:00+07:00"),
                422,
                "wrong-figure-source",
            ),
            (activity("UBND-DONG-HA", "propaganda_session", "2024-04-02"), 422, "wrong-figure-source"),
        ],
        {("2024-06-20", "UBND-DONG-HA", "propaganda_sessions", "2024-Q2"): {"actual": 0}},
    ),
    Scenario(
        "105 % of 47 cases is a target of 50",
        "20 June",
        [
            *(
                (submitted("CA-HUONG-HOA", f"2024-{m:02d}", f"2024-{m:02d}-15T08:00:00+07:00"), 202, None)
                for m in range(1, 7)
            ),
            (
                figure("CA-HUONG-HOA", "drug_cases_detected", "2024", 5, "2024-06-15T09:00:00+07:00"),
                202,
                None,
            ),
            (
                figure(
                    "CA-HUONG-HOA", "compulsory_rehab_dossiers", "2024-05", 3, "2024-05-15T09:00:00+07:00"
                ),
                202,
                None,
            ),
        ],
        {
            ("2024-06-20", "CA-HUONG-HOA", "drug_cases_detected", "2024"): {
                "actual": 5,
                "target": 50,
                "status": "lagging",
            }
        },
    ),
    Scenario(
        "a ratio whose denominator was never reported has no data, not on_track",
        "20 June",
        [],
        {
            ("2024-06-20", "CA-HUONG-HOA", "compulsory_rehab_dossiers", "2024"): {
                "status": "no_data",
                "actual": 3,
                "target": None,
            }
        },
    ),
    Scenario(
        "Action Month activities held in July do not achieve the milestone due 30 June",
        "10 July",
        [
            (activity("UBND-DAKRONG", "action_month_event", "2024-07-02"), 202, None),
            (activity("UBND-DAKRONG", "action_month_event", "2024-07-03"), 202, None),
        ],
        {
            ("2024-07-10", "UBND-DAKRONG", "action_month_activities", "2024"): {
                "status": "missed",
                "actual": 2,
                "target": 4,
            }
        },
    ),
    Scenario(
        "the June activities the milestone counts",
        "20 June",
        [
            (activity("UBND-DAKRONG", "action_month_event", "2024-06-18"), 202, None),
            (activity("UBND-DAKRONG", "action_month_event", "2024-06-19"), 202, None),
        ],
        {("2024-06-20", "UBND-DAKRONG", "action_month_activities", "2024"): {"actual": 2, "target": 4}},
    ),
    Scenario(
        "a late, back-dated report: not known before it was recorded, counted from then on",
        "20 June",
        [
            (
                figure(
                    "CA-DAKRONG",
                    "drug_cases_detected",
                    "2024-05",
                    7,
                    "2024-05-20T09:00:00+07:00",
                    "tf-late-may",
                ),
                202,
                None,
            )
        ],
        {
            ("2024-06-19", "CA-DAKRONG", "drug_cases_detected", "2024"): {"actual": 3},
            ("2024-06-20", "CA-DAKRONG", "drug_cases_detected", "2024"): {"actual": 10},
            (None, "CA-DAKRONG", "drug_cases_detected", "2024"): {"actual": 10},
        },
    ),
    Scenario(
        "the police of Đakrông report March on time",
        "20 March",
        [(figure("CA-DAKRONG", "drug_cases_detected", "2024-03", 3, "2024-03-16T09:00:00+07:00"), 202, None)],
        {("2024-03-20", "CA-DAKRONG", "drug_cases_detected", "2024"): {"actual": 3}},
    ),
]


def _stop(pipe: Pipeline, name: str) -> None:
    """SIGTERM (the consumer leaves its group) and wait until the process is gone."""
    pid = pipe.pid(name)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while pid_alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    assert not pid_alive(pid), f"{name} did not stop"


def _restart(pipe: Pipeline, name: str, now: str) -> None:
    _stop(pipe, name)
    pipe.env["TIENDO_NOW"] = now
    pipe.start(name)


@pytest.fixture(scope="module")
def told(tmp_path_factory, kafka_bootstrap, database_url):
    """Run every phase once: (pipeline, answers per scenario)."""
    db = asyncio.run(create_database(database_url, "truthful"))
    pipe = Pipeline(
        tmp_path_factory.mktemp("truthful"), kafka_bootstrap, db, {"TIENDO_NOW": PHASES["20 March"]}
    )
    answers: dict[str, list[httpx.Response]] = {}
    try:
        pipe.up()
        _restart(pipe, "intake", LAST)
        agencies = sorted({e["source"].rsplit("/", 1)[1] for s in SCENARIOS for e, _, _ in s.send})
        pipe.issue_tokens(agencies)
        for phase, now in PHASES.items():
            if now != PHASES["20 March"]:
                _restart(pipe, "aggregator", now)
            accepted = set()
            for s in (s for s in SCENARIOS if s.phase == phase):
                answers[s.name] = []
                for e, _, _ in s.send:
                    agency = e["source"].rsplit("/", 1)[1]
                    r = pipe.send(agency, e)
                    answers[s.name].append(r)
                    if r.status_code == 202:
                        accepted.add((e["source"], e["id"]))
            # recorded by this phase's clock before the clock moves on
            wait_until(
                f"the {phase} events recorded",
                lambda: accepted <= pipe.applied() or f"{len(accepted - pipe.applied())} not yet",  # noqa: B023
                60,
                0.2,
            )
        yield pipe, answers
    finally:
        pipe.down()
        asyncio.run(drop_database(database_url, db))


def kpi(pipe: Pipeline, as_of: str | None, agency: str, indicator: str, period: str) -> dict:
    params = {
        "agency": agency,
        "indicator": indicator,
        "period": period,
        **({"as_of": as_of} if as_of else {}),
    }
    r = api_get(pipe.url("aggregator") + "/v1/kpis", params=params, timeout=15)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1, f"{agency} {indicator} {period} as of {as_of}: {items}"
    return items[0]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_leader_sees_the_right_status_and_figure(told, scenario):
    pipe, answers = told
    for (e, status, reason), r in zip(scenario.send, answers[scenario.name]):
        assert r.status_code == status, f"{e['type']} {e['data']}: {r.status_code} {r.text}"
        if reason:
            assert r.json()["reason"] == reason, r.text
    for (as_of, agency, indicator, period), want in scenario.sees.items():
        seen = kpi(pipe, as_of, agency, indicator, period)
        assert {k: seen[k] for k in want} == want, f"as of {as_of}: {seen}"


def test_the_refusal_of_20_december_2024_says_which_reporting_year_it_belongs_to(told):
    _, answers = told
    refusal = answers[
        "an activity of 20 Dec 2023 counts into 2024; one of 20 Dec 2024 is refused with a clear 422"
    ][1]
    assert "2025 reporting year" in refusal.json()["detail"], refusal.text


def test_the_20_december_2023_activity_is_in_january_q1_and_h1(told):
    pipe, _ = told
    for period in ("2024-01", "2024-Q1", "2024-H1", "2024"):
        r = api_get(
            pipe.url("aggregator") + "/v1/agencies/STTTT/scorecard", params={"period": period}, timeout=15
        )
        figures = {f["indicator"]: f["actual"] for f in r.json()["figures"]}
        assert figures["propaganda_sessions"] == 1, (period, figures)
    r = api_get(
        pipe.url("aggregator") + "/v1/agencies/STTTT/scorecard", params={"period": "2024-02"}, timeout=15
    )
    assert {f["indicator"]: f["actual"] for f in r.json()["figures"]}["propaganda_sessions"] in (
        None,
        0,
    )  # none


def test_every_link_of_a_correction_chain_is_in_the_history(told):
    pipe, _ = told
    r = api_get(pipe.url("aggregator") + "/v1/kpis/CA-DONG-HA/drug_cases_detected/2024/history", timeout=15)
    entries = {e["id"]: e for e in r.json()["events"]}
    assert {A, B, C} <= set(entries), r.text
    assert entries[A]["corrected_by"] == C and entries[A]["corrections"] == [B, C]
    assert (entries[B]["role"], entries[B]["corrects"]) == ("superseded_correction", A)
    assert (entries[C]["role"], entries[C]["corrects"]) == ("correction", B)


def test_a_late_back_dated_report_shows_its_own_time_and_when_it_was_recorded(told):
    pipe, _ = told
    url = pipe.url("aggregator") + "/v1/kpis/CA-DAKRONG/drug_cases_detected/2024/history"
    before = api_get(url, params={"as_of": "2024-06-19"}, timeout=15).json()
    assert "tf-late-may" not in {e["id"] for e in before["events"]} and before["kpi"]["actual"] == 3
    entry = {e["id"]: e for e in api_get(url, timeout=15).json()["events"]}["tf-late-may"]
    assert datetime.fromisoformat(entry["time"]).date().isoformat() == "2024-05-20"
    recorded = datetime.fromisoformat(entry["recorded_at"]).astimezone(
        datetime.fromisoformat(PHASES["20 June"]).tzinfo
    )
    assert recorded.date().isoformat() == "2024-06-20", entry


def test_an_agency_that_never_reports_shows_as_behind(told):
    pipe, _ = told
    for as_of in ("2024-06-20", None):
        seen = kpi(pipe, as_of, "SYT", "inspections_conducted", "2024")
        assert seen["actual"] == 0 and seen["status"] in ("at_risk", "lagging"), seen
    # the current projection has its rows too (the deadline check evaluates every agency)
    r = api_get(
        pipe.url("aggregator") + "/v1/agencies/SYT/scorecard", params={"as_of": "2024-07-10"}, timeout=15
    )
    assert {x["period"]: x["status"] for x in r.json()["reports"]}["2024-Q2"] == "missing"


def test_a_zero_baseline_needs_a_floor(tmp_path):
    """The loader (no stack needed): 0 × 105 % would be a target achieved with nothing done."""
    text = open(DEFAULT_PLAN, encoding="utf-8").read()
    # CA-DONG-HA's 2023 figure, under the police-cases-105 target rule (issue 20)
    assert text.count("CA-DONG-HA: {baseline_value: 34}") == 1
    zero = tmp_path / "zero.yaml"
    zero.write_text(text.replace("CA-DONG-HA: {baseline_value: 34}", "CA-DONG-HA: {baseline_value: 0}"))
    with pytest.raises(PlanError) as refused:
        load_plan(zero)
    assert any("floor" in issue.message for issue in refused.value.errors), refused.value.errors
    floored = tmp_path / "floored.yaml"
    floored.write_text(
        text.replace("CA-DONG-HA: {baseline_value: 34}", "CA-DONG-HA: {baseline_value: 0, floor: 5}")
    )
    target = load_plan(floored).target("CA-DONG-HA", "drug_cases_detected", "2024")
    assert target.target_value() == 5
