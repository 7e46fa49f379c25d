import pytest

from services.intake.domain.parsing import check_type, fast_parse, parse_event, parse_json
from services.intake.domain.problems import REASONS, FieldError, Problem
from services.intake.entrypoints.examples import examples


def test_problem_is_rfc9457_with_pointer_and_path():
    problem = Problem("invalid-event", "fix it", (FieldError("/data/target_groups/0", "too long"),))
    body = problem.as_dict()
    assert body["type"] == "https://tiendo.example/problems/invalid-event"
    assert (body["status"], body["title"], body["detail"]) == (422, REASONS["invalid-event"][1], "fix it")
    assert body["errors"] == [
        {"pointer": "/data/target_groups/0", "path": "$.data.target_groups[0]", "detail": "too long"}
    ]


def test_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError):
        Problem("nope", "x")


def test_every_schema_error_is_listed_with_its_pointer_and_a_message_that_says_what_to_do():
    event = examples()["indicator.reported"]
    event = {
        **event,
        "data": {"indicator": "drug_cases_detected", "period": "2024-6", "value": -1, "colour": "red"},
    }
    problem = parse_event(event)
    assert isinstance(problem, Problem) and problem.status == 422
    by_pointer = {e.pointer: e.detail for e in problem.errors}
    assert by_pointer == {
        "/data/period": "must be a period: 2024, 2024-H1, 2024-Q2 or 2024-06; got '2024-6'",
        "/data/value": "must not be negative",
        "/data/colour": "is not a field of this event type; remove it",
    }
    assert "3 field(s) need fixing" in problem.detail


def test_missing_field_and_naive_time():
    event = {k: v for k, v in examples()["report.submitted"].items() if k != "id"}
    event["time"] = "2024-06-20T08:00:00"
    problem = parse_event(event)
    by_pointer = {e.pointer: e.detail for e in problem.errors}
    assert by_pointer["/id"] == "is required"
    assert "UTC offset" in by_pointer["/time"]


@pytest.mark.parametrize(
    "event_type, expected",
    [
        (
            "vn.gov.pcmt.indicator.reported.v2",
            "version 'v2' of vn.gov.pcmt.indicator.reported is not supported; "
            "send vn.gov.pcmt.indicator.reported.v1",
        ),
        (
            "indicator.reported",
            "unknown event type 'indicator.reported' (every type starts with 'vn.gov.pcmt.')",
        ),
        ("vn.gov.pcmt.kpi.status_changed.v1", "unknown event type 'vn.gov.pcmt.kpi.status_changed.v1'"),
    ],
)
def test_unknown_types_and_versions_say_what_to_send(event_type, expected):
    problem = check_type(event_type)
    assert problem.reason == "unknown-event-type"
    assert problem.detail.startswith(expected)
    assert problem.errors[0].pointer == "/type"


def test_malformed_json_points_at_line_and_column():
    problem = parse_json(b'{"id": "x",\n "source": }')
    assert problem.reason == "malformed-json" and problem.status == 400
    assert "line 2 column 12" in problem.detail


def test_a_json_array_on_the_single_endpoint_is_not_a_cloudevent():
    problem = parse_event([examples()["report.submitted"]])
    assert problem.reason == "not-a-cloudevent" and "got an array" in problem.detail


@pytest.mark.parametrize(
    "event_type, words",
    [({}, "got an object"), ([], "got an array"), (5, "got a number"), (True, "got a boolean")],
)
def test_a_type_that_is_not_a_string_is_named_not_hashed(event_type, words):
    problem = parse_event({**examples()["report.submitted"], "type": event_type})
    assert problem.reason == "unknown-event-type" and words in problem.detail
    assert problem.errors[0].pointer == "/type"


@pytest.mark.parametrize(
    "value, words", [(True, "must be a number; got a boolean"), ("5", "must be a number; got a string")]
)
def test_a_value_is_never_coerced_and_the_message_says_what_came(value, words):
    doc = examples()["indicator.reported"]
    problem = parse_event({**doc, "data": {**doc["data"], "value": value}})
    assert problem.reason == "invalid-event"
    assert [(e.pointer, e.detail) for e in problem.errors] == [("/data/value", words)]


@pytest.mark.parametrize(
    "body, words",
    [
        (b"[" * 10_000 + b"]" * 10_000, "more than 32 deep"),
        (b'{"specversion": "1.0", "id": ' + b"1" * 5000 + b"}", "integer of 5000 digits"),
        ('{"id": "x"}'.encode("utf-16"), "UTF-16 or UTF-32"),
        ('{"id": "x"}'.encode("utf-32-be"), "UTF-16 or UTF-32"),
        (b'{"id": "\\udfff"}', "lone surrogate"),
    ],
)
def test_hostile_json_is_a_400_with_a_reason(body, words):
    assert fast_parse(body, batch=False) is None
    problem = parse_json(body)
    assert problem.reason == "malformed-json" and problem.status == 400 and words in problem.detail
