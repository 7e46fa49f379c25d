"""The event contract v1: models, both CloudEvents encodings, and the committed JSON Schemas."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from shared.events import EventType
from shared.events.codec import DecodeError, decode_agency_event, from_kafka, to_kafka, to_structured
from shared.events.models import agency_event_adapter
from shared.events.schemas import SCHEMA_DIR, generated

REPORTED = {
    "specversion": "1.0",
    "id": "ca-tinh-2024-06-0001",
    "source": "/agencies/CA-TINH",
    "type": "vn.gov.pcmt.indicator.reported.v1",
    "time": "2024-06-20T08:00:00+07:00",
    "data": {"indicator": "drug_cases_detected", "period": "2024-06", "value": 12},
}
EXAMPLES = {
    EventType.INDICATOR_REPORTED: REPORTED["data"],
    EventType.INDICATOR_CORRECTED: {"corrects": "ca-tinh-2024-06-0001", "value": 11, "reason": "Trùng một vụ"},
    EventType.ACTIVITY_RECORDED: {"activity": "propaganda_session", "date": "2024-06-26", "participants": 250,
                                  "target_groups": ["học sinh"], "channel": "trực tiếp", "unit_code": "KHE-SANH"},
    EventType.REPORT_SUBMITTED: {"period": "2024-06"},
    EventType.COMMUNE_ASSESSED: {"unit_code": "KHE-SANH", "year": 2024, "good_movement": True,
                                 "good_management": True, "good_fight": False},
}


def event(type_: str, data: dict, **attrs) -> dict:
    return {**REPORTED, "type": type_, "data": data, **attrs}


@pytest.mark.parametrize("type_", list(EXAMPLES))
def test_every_agency_event_round_trips_through_kafka_binary_mode(type_):
    parsed = agency_event_adapter.validate_python(event(type_, EXAMPLES[type_]))
    record = to_kafka(parsed)
    assert record.key == b"CA-TINH"
    assert ("ce_type", type_.encode()) in record.headers
    assert decode_agency_event(record.value, record.headers) == parsed


def test_status_events_keep_their_wire_form_and_required_nulls():
    """Headers as `model_dump(mode="json")` writes them (the form the status topic holds)."""
    from tests.notifier.helpers import kpi_event

    status = kpi_event(previous=None)
    record = to_kafka(status, key="CA-TINH")
    attributes = status.model_dump(mode="json", exclude_none=True, exclude={"data", "datacontenttype"})
    assert record.headers == [("content-type", b"application/json"),
                              *((f"ce_{n}", str(v).encode()) for n, v in attributes.items())]
    assert record.key == b"CA-TINH" and b'"previous_status":null' in record.value


def test_structured_json_keeps_vietnamese_text_readable():
    parsed = agency_event_adapter.validate_python(event(EventType.INDICATOR_CORRECTED, EXAMPLES[EventType.INDICATOR_CORRECTED]))
    assert "Trùng một vụ".encode() in to_structured(parsed)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"time": "2024-06-20T08:00:00"}, "time", "UTC offset"),
        ({"source": "/agency/CA-TINH"}, "source", "/agencies/{AGENCY_CODE}"),
        ({"source": "/agencies/CA-TINH\n"}, "source", "/agencies/{AGENCY_CODE}"),  # `$` allows a last newline
        ({"specversion": "0.3"}, "specversion", "'1.0'"),
        ({"data": {**REPORTED["data"], "value": -1}}, "data.value", "must not be negative"),
        ({"data": {**REPORTED["data"], "value": math.inf}}, "data.value", "finite"),
        ({"data": {**REPORTED["data"], "value": 1e13}}, "data.value", "implausibly large"),
        ({"data": {**REPORTED["data"], "period": "2024-13"}}, "data.period", "pattern"),
        ({"data": {**REPORTED["data"], "extra": 1}}, "data.extra", "Extra inputs"),
        ({"data": {"corrects": "x", "value": 1}, "type": EventType.INDICATOR_CORRECTED}, "data.reason", "required"),
    ],
)
def test_invalid_events_name_the_field_and_the_problem(change, field, message):
    with pytest.raises(ValidationError) as info:
        agency_event_adapter.validate_python({**REPORTED, **change})
    errors = {".".join(str(p) for p in e["loc"][1:]): e["msg"] for e in info.value.errors()}
    assert field in errors, errors
    assert message in errors[field]


@pytest.mark.parametrize(("extension", "message"), [({"partof": {"a": 1}}, "string, integer or boolean"),
                                                   ({"Trace_Id": "x"}, "lowercase letters or digits")])
def test_extensions_must_be_cloudevents_scalars(extension, message):
    with pytest.raises(ValidationError, match=message):
        agency_event_adapter.validate_python({**REPORTED, **extension})


def test_unknown_event_type_is_rejected_by_name():
    with pytest.raises(ValidationError) as info:
        agency_event_adapter.validate_python({**REPORTED, "type": "vn.gov.pcmt.indicator.reported.v9"})
    assert "vn.gov.pcmt.indicator.reported.v9" in str(info.value)


def test_binary_mode_without_required_headers_is_a_decode_error():
    with pytest.raises(DecodeError, match="ce_source"):
        from_kafka(b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"t")])
    with pytest.raises(DecodeError, match="not valid JSON"):
        from_kafka(b"{nope", [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s")])


def test_committed_json_schemas_match_the_models():
    """Regenerate with `python -m shared.events.schemas` after changing a model."""
    expected = generated()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.json")}
    assert committed == expected


@pytest.mark.parametrize("type_", list(EXAMPLES))
def test_examples_validate_against_the_published_schemas(type_):
    schema = json.loads((SCHEMA_DIR / f"{type_}.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(event(type_, EXAMPLES[type_]))


@given(value=st.floats(min_value=0, max_value=1e12, allow_nan=False), ident=st.text(min_size=1, max_size=128))
def test_any_valid_report_survives_the_kafka_round_trip(value, ident):
    parsed = agency_event_adapter.validate_python({**REPORTED, "id": ident, "data": {**REPORTED["data"], "value": value}})
    record = to_kafka(parsed)
    assert decode_agency_event(record.value, record.headers) == parsed


def test_status_events_keep_required_nulls_and_take_an_explicit_key():
    from shared.events.codec import decode_status_event
    from shared.events.models import status_event_adapter

    event = status_event_adapter.validate_python({
        "specversion": "1.0", "id": "kpi-1", "source": "/services/aggregator", "time": "2024-06-20T08:00:00+07:00",
        "type": "vn.gov.pcmt.kpi.status_changed.v1",
        "data": {"agency": "CA-TINH", "indicator": "drug_cases_detected", "period": "2024", "status": "lagging",
                 "previous_status": None, "actual": 5, "target": 191.1, "expected": 80, "forecast": 11,
                 "as_of": "2024-06-20T08:00:00+07:00"}})
    record = to_kafka(event, key="CA-TINH")
    assert record.key == b"CA-TINH"
    assert b'"previous_status":null' in record.value
    assert decode_status_event(record.value, record.headers) == event
