"""One source of plan rules (issue 15): intake's checks and the aggregator's fact checks are the
same functions (`shared.plan.index`), so an event intake accepts is counted, and one it refuses
is dead-lettered by the aggregator with the same words. And the Decree 09/2019 reporting year:
2024 runs from 15 Dec 2023 to 14 Dec 2024."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.aggregator.adapters.decoding import decode
from services.aggregator.domain.facts import fact_from_event
from services.aggregator.domain.history import fold
from services.aggregator.service_layer.ports import Delivered, Poison
from services.intake.domain.plan_rules import authorize, check_content
from services.intake.entrypoints.examples import examples
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter
from shared.plan import load_plan
from shared.plan.index import PlanIndex, Rejected
from shared.settings import DEFAULT_PLAN

PLAN = load_plan(DEFAULT_PLAN)
INDEX = PLAN.index
NOW = datetime.fromisoformat("2025-01-10T08:00:00+07:00")  # after every date below: none is "in the future"
SKEW = timedelta(minutes=5)


def event(kind: str, agency: str = "CA-TINH", data=None, **envelope):
    doc = examples(agency)[kind]
    doc = {**doc, **envelope, "data": {**doc["data"], **(data or {})}}
    return agency_event_adapter.validate_python({k: v for k, v in doc.items() if v is not None})


def intake_verdict(e):
    problem = authorize(e, e.agency, INDEX) or check_content(e, INDEX, NOW, SKEW)
    return problem if not isinstance(problem, list) else None


def aggregator_verdict(e):
    r = to_kafka(e, e.agency)
    record = SimpleNamespace(
        topic="events", partition=0, offset=1, key=r.key, value=r.value, headers=list(r.headers)
    )
    return decode(record, INDEX)


# (case, event, intake's reason or None when accepted)
CASES = [
    ("a figure of the agency's", event("indicator.reported"), None),
    (
        "an indicator the plan does not assign to the agency",
        event("indicator.reported", "HQ", {"indicator": "drug_users_managed", "unit_code": None}),
        "indicator-not-assigned",
    ),
    (
        "an unknown indicator",
        event("indicator.reported", data={"indicator": "drug_cases"}),
        "unknown-indicator",
    ),
    (
        "another agency's unit",
        event("indicator.reported", "CA-DAKRONG", {"unit_code": "HH-KHE-SANH"}),
        "foreign-unit",
    ),
    ("an unknown unit", event("indicator.reported", data={"unit_code": "NOWHERE"}), "unknown-unit"),
    (
        "a period of another year",
        event("indicator.reported", data={"period": "2023-12"}),
        "outside-plan-year",
    ),
    ("a value above the cap", event("indicator.reported", data={"value": 1001}), "value-above-cap"),
    (
        "an unknown activity type",
        event("activity.recorded", data={"activity": "concert"}),
        "unknown-activity",
    ),
    (
        "an activity of 20 Dec 2023: the 2024 reporting year",
        event("activity.recorded", data={"date": "2023-12-20"}),
        None,
    ),
    (
        "an activity of 15 Dec 2023: the first day of 2024",
        event("activity.recorded", data={"date": "2023-12-15"}),
        None,
    ),
    (
        "an activity of 14 Dec 2024: the last day of 2024",
        event("activity.recorded", data={"date": "2024-12-14"}),
        None,
    ),
    (
        "an activity of 14 Dec 2023: the 2023 reporting year",
        event("activity.recorded", data={"date": "2023-12-14"}),
        "outside-plan-year",
    ),
    (
        "an activity of 15 Dec 2024: the 2025 reporting year",
        event("activity.recorded", data={"date": "2024-12-15"}),
        "outside-plan-year",
    ),
    (
        "an activity of 20 Dec 2024: the 2025 reporting year",
        event("activity.recorded", data={"date": "2024-12-20"}),
        "outside-plan-year",
    ),
    (
        "an activity in another agency's unit",
        event("activity.recorded", "CA-DAKRONG", {"unit_code": "HH-KHE-SANH"}),
        "foreign-unit",
    ),
    ("an assessment of another year", event("commune.assessed", data={"year": 2023}), "outside-plan-year"),
    ("a report for another year", event("report.submitted", data={"period": "2025"}), "outside-plan-year"),
    ("a report of the year", event("report.submitted"), None),
]


@pytest.mark.parametrize("case, e, reason", CASES, ids=[c[0] for c in CASES])
def test_what_intake_accepts_the_aggregator_counts_and_what_it_refuses_the_aggregator_refuses(
    case, e, reason
):
    problem, item = intake_verdict(e), aggregator_verdict(e)
    if reason is None:
        assert problem is None, problem
        assert isinstance(item, Delivered), item
    else:
        assert problem is not None and problem.reason == reason, problem
        assert isinstance(item, Poison) and item.reason == "rejected", item
        assert item.detail == problem.detail  # the same words


def test_an_activity_of_20_december_2023_counts_into_the_year_its_first_quarter_and_january():
    e = event(
        "activity.recorded",
        "UBND-KHE-SANH",
        {"date": "2023-12-20", "unit_code": None},
        time="2023-12-20T10:00:00+07:00",
    )
    ledger = fold([fact_from_event(e, 1, INDEX)], INDEX)["UBND-KHE-SANH"]
    for period in ("2024", "2024-H1", "2024-Q1", "2024-01"):
        assert ledger.actual("propaganda_sessions", period, INDEX) == 1, period
    assert ledger.actual("propaganda_sessions", "2024-02", INDEX) is None


def test_an_activity_of_20_december_2024_is_refused_as_the_next_reporting_year():
    problem = intake_verdict(event("activity.recorded", data={"date": "2024-12-20"}))
    assert problem.status == 422 and problem.errors[0].pointer == "/data/date"
    assert "belongs to the 2025 reporting year (15 Dec 2024 – 14 Dec 2025" in problem.detail
    assert "not to the plan's 2024 (15 Dec 2023 – 14 Dec 2024)" in problem.detail
    assert "no plan for 2025 is loaded yet" in problem.detail


def test_a_figure_for_a_year_with_no_plan_names_the_plans_loaded():
    later = intake_verdict(event("indicator.reported", data={"period": "2025-03"}))
    assert later.status == 422 and later.errors[0].pointer == "/data/period"
    assert later.detail == (
        "period 2025-03 is outside the plan year 2024; plans loaded: 2024 (29/KH-BCĐ); no plan for 2025 is loaded yet"
    )
    earlier = intake_verdict(event("indicator.reported", data={"period": "2023-12"}))
    assert earlier.detail == "period 2023-12 is outside the plan year 2024; plans loaded: 2024 (29/KH-BCĐ)"
    poison = aggregator_verdict(event("indicator.reported", data={"period": "2025-03"}))
    assert poison.reason == "rejected" and poison.detail == later.detail  # the same words


@pytest.mark.parametrize(
    "day, allowed",
    [
        ("2023-12-14", False),
        ("2023-12-15", True),
        ("2024-06-30", True),
        ("2024-12-14", True),
        ("2024-12-15", False),
    ],
)
def test_the_reporting_year_is_the_union_of_the_monthly_windows(day, allowed):
    assert (INDEX.first_day.isoformat(), INDEX.last_day.isoformat()) == ("2023-12-15", "2024-12-14")
    if allowed:
        INDEX.check_activity_day(day)
        assert INDEX.activity_sums("propaganda_session", day)[0], "an allowed day counts somewhere"
    else:
        with pytest.raises(Rejected) as refused:
            INDEX.check_activity_day(day)
        assert refused.value.reason == "outside-plan-year"


def test_the_index_is_built_once_per_plan_and_answers_what_the_plan_says():
    assert PLAN.index is INDEX and INDEX.index is INDEX and isinstance(INDEX, PlanIndex)
    assert (
        INDEX.report_limit("CA-TINH", "drug_cases_detected", "2024", None)
        == PLAN.indicator("drug_cases_detected").max_value
    )
    assert INDEX.deadline("CA-TINH", PLAN.reporting_periods("CA-TINH")[0]) == PLAN.deadline(
        "CA-TINH", PLAN.reporting_periods("CA-TINH")[0]
    )
    assert INDEX.agency_codes == {a.code for a in PLAN.agencies}
    assert INDEX.title == PLAN.title  # anything not precomputed is the plan's


def test_a_refused_combination_is_not_remembered_as_accepted():
    for _ in range(2):
        with pytest.raises(Rejected):
            INDEX.report_limit("HQ", "drug_users_managed", "2024", None)
    assert ("HQ", "drug_users_managed", "2024", None) not in INDEX._reports


def test_times_in_utc_are_the_events_own():
    e = event("indicator.reported", time=datetime(2024, 6, 20, 1, tzinfo=UTC).isoformat())
    assert intake_verdict(e) is None and isinstance(aggregator_verdict(e), Delivered)


# -- one kind of event per figure (the plan's `from_activities`) --------------------------------


def session(agency: str, **data):
    return event("activity.recorded", agency, {"unit_code": None, **data})


def figure(agency: str, indicator: str):
    return event(
        "indicator.reported",
        agency,
        {"indicator": indicator, "unit_code": None, "period": "2024-06", "value": 3},
    )


FIGURE_SOURCE_CASES = [
    ("the Border Guard records its sessions", session("BDBP"), None),
    (
        "the Border Guard reporting a session figure too",
        figure("BDBP", "propaganda_sessions"),
        "wrong-figure-source",
    ),
    (
        "the Border Guard reporting participants too",
        figure("BDBP", "propaganda_participants"),
        "wrong-figure-source",
    ),
    ("the Border Guard reports its drug cases", figure("BDBP", "drug_cases_detected"), None),
    (
        "a commune committee reports its monthly session figure",
        figure("UBND-KHE-SANH", "propaganda_sessions"),
        None,
    ),
    ("a commune committee recording the same session too", session("UBND-KHE-SANH"), "wrong-figure-source"),
    ("the education department records sessions", session("SGDDT"), None),
    (
        "the education department recording an inspection it reports",
        session("SGDDT", activity="inspection"),
        "wrong-figure-source",
    ),
    ("an activity counting into nothing the agency reports", session("CA-TINH"), None),
]


@pytest.mark.parametrize("case, e, reason", FIGURE_SOURCE_CASES, ids=[c[0] for c in FIGURE_SOURCE_CASES])
def test_one_kind_of_event_per_figure(case, e, reason):
    problem = intake_verdict(e)
    if reason is None:
        assert problem is None, problem
    else:
        assert problem is not None and (problem.reason, problem.status) == (reason, 422), problem
        assert problem.errors[0].pointer in ("/data/indicator", "/data/activity")
        assert "twice" in problem.detail


def test_where_each_figure_comes_from():
    assert INDEX.figure_source("BDBP", "propaganda_sessions") == "activities"
    assert INDEX.figure_source("BDBP", "drug_cases_detected") == "reported"
    assert INDEX.figure_source("UBND-KHE-SANH", "propaganda_sessions") == "reported"  # the default
    assert INDEX.figure_source("STTTT", "propaganda_participants") is None  # not on its rule


@pytest.mark.parametrize(
    "edit, field, words",
    [
        (
            (
                "indicators: [propaganda_sessions], from_activities: [propaganda_sessions]}",
                "indicators: [propaganda_sessions], from_activities: [propaganda_participants]}",
            ),
            "reporting[9].from_activities[0]",
            "propaganda_participants is not one of the rule's indicators",
        ),
        (
            (
                "indicators: [drug_cases_detected, drug_seizures_heroin_g]}",
                "indicators: [drug_cases_detected, drug_seizures_heroin_g], from_activities: [drug_cases_detected]}",
            ),
            "reporting[5].from_activities[0]",
            "no activity type counts into drug_cases_detected, so no activity could make its figure",
        ),
    ],
)
def test_the_loader_refuses_a_figure_no_activity_could_make(tmp_path, edit, field, words):
    from shared.plan import PlanError

    text = open(DEFAULT_PLAN, encoding="utf-8").read()
    assert text.count(edit[0]) == 1
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    with pytest.raises(PlanError) as refused:
        load_plan(path)
    [issue] = refused.value.errors
    line = next(n for n, row in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if edit[1] in row)
    assert (issue.field, issue.message) == (field, words)
    assert issue.path.startswith(f"{path}:{line}:")
