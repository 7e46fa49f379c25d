"""The event contract v1: models, both CloudEvents encodings, and the committed JSON Schemas."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from shared.events import EventType
from shared.events.codec import DecodeError, decode_agency_event, from_kafka, to_kafka, to_structured
from shared.events.models import agency_event_adapter
from shared.events.schemas import SCHEMA_DIR, generated
from tests.notifier.helpers import kpi_status_json

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
    EventType.INDICATOR_CORRECTED: {
        "corrects": "ca-tinh-2024-06-0001",
        "value": 11,
        "reason": "Trùng một vụ",
    },
    EventType.ACTIVITY_RECORDED: {
        "activity": "propaganda_session",
        "date": "2024-06-26",
        "participants": 250,
        "target_groups": ["học sinh"],
        "channel": "trực tiếp",
        "unit_code": "KHE-SANH",
    },
    EventType.REPORT_SUBMITTED: {"period": "2024-06"},
    EventType.COMMUNE_ASSESSED: {
        "unit_code": "KHE-SANH",
        "year": 2024,
        "good_movement": True,
        "good_management": True,
        "good_fight": False,
    },
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
    assert record.headers == [
        ("content-type", b"application/json"),
        *((f"ce_{n}", str(v).encode()) for n, v in attributes.items()),
    ]
    assert record.key == b"CA-TINH" and b'"previous_status":null' in record.value


def test_structured_json_keeps_vietnamese_text_readable():
    parsed = agency_event_adapter.validate_python(
        event(EventType.INDICATOR_CORRECTED, EXAMPLES[EventType.INDICATOR_CORRECTED])
    )
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
        (
            {"data": {"corrects": "x", "value": 1}, "type": EventType.INDICATOR_CORRECTED},
            "data.reason",
            "required",
        ),
    ],
)
def test_invalid_events_name_the_field_and_the_problem(change, field, message):
    with pytest.raises(ValidationError) as info:
        agency_event_adapter.validate_python({**REPORTED, **change})
    errors = {".".join(str(p) for p in e["loc"][1:]): e["msg"] for e in info.value.errors()}
    assert field in errors, errors
    assert message in errors[field]


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"partof": {"a": 1}}, "string, integer or boolean"),
        ({"Trace_Id": "x"}, "lowercase letters or digits"),
    ],
)
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
        from_kafka(
            b"{nope", [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s")]
        )


def test_committed_json_schemas_match_the_models():
    """Regenerate with `python -m shared.events.schemas` after changing a model."""
    expected = generated()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.json")}
    assert committed == expected


@pytest.mark.parametrize("type_", list(EXAMPLES))
def test_examples_validate_against_the_published_schemas(type_):
    schema = json.loads((SCHEMA_DIR / f"{type_}.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(event(type_, EXAMPLES[type_]))


# ids: printable characters (no control, format, surrogate or separator character but the space)
IDS = st.text(
    st.characters(blacklist_categories=("C", "Zl", "Zp", "Zs")) | st.just(" "), min_size=1, max_size=128
)


@given(value=st.floats(min_value=0, max_value=1e12, allow_nan=False), ident=IDS)
def test_any_valid_report_survives_the_kafka_round_trip(value, ident):
    parsed = agency_event_adapter.validate_python(
        {**REPORTED, "id": ident, "data": {**REPORTED["data"], "value": value}}
    )
    record = to_kafka(parsed)
    assert decode_agency_event(record.value, record.headers) == parsed


def test_status_events_keep_required_nulls_and_take_an_explicit_key():
    from shared.events.codec import decode_status_event
    from shared.events.models import status_event_adapter

    event = status_event_adapter.validate_python(kpi_status_json())
    record = to_kafka(event, key="CA-TINH")
    assert record.key == b"CA-TINH"
    assert b'"previous_status":null' in record.value
    assert decode_status_event(record.value, record.headers) == event


# -- strict contract (issue 14): no coercion, finite numbers, printable ids in NFC, bounded times --


def _errors(document: dict, adapter=agency_event_adapter) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        adapter.validate_python(document)
    return {".".join(str(p) for p in e["loc"][1:]): e["msg"] for e in info.value.errors()}


ACTIVITY = event(EventType.ACTIVITY_RECORDED, EXAMPLES[EventType.ACTIVITY_RECORDED])
ASSESSED = event(EventType.COMMUNE_ASSESSED, EXAMPLES[EventType.COMMUNE_ASSESSED])
CORRECTED = event(EventType.INDICATOR_CORRECTED, EXAMPLES[EventType.INDICATOR_CORRECTED])


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**REPORTED, "data": {**REPORTED["data"], "value": True}}, "data.value"),
        ({**REPORTED, "data": {**REPORTED["data"], "value": "5"}}, "data.value"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "participants": "250"}}, "data.participants"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "participants": 250.0}}, "data.participants"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "participants": True}}, "data.participants"),
        ({**ASSESSED, "data": {**ASSESSED["data"], "year": "2024"}}, "data.year"),
        ({**ASSESSED, "data": {**ASSESSED["data"], "good_fight": 0}}, "data.good_fight"),
        ({**ASSESSED, "data": {**ASSESSED["data"], "good_fight": "false"}}, "data.good_fight"),
        ({**REPORTED, "time": 1718845200}, "time"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "date": 19894}}, "data.date"),
    ],
)
def test_nothing_is_coerced_into_a_number_a_boolean_or_a_time(document, field):
    assert field in _errors(document)


def test_an_integer_is_a_fine_value():
    parsed = agency_event_adapter.validate_python({**REPORTED, "data": {**REPORTED["data"], "value": 7}})
    assert parsed.data.value == 7.0


@pytest.mark.parametrize("field", ["actual", "target", "expected", "forecast"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "5"])
def test_status_figures_are_finite_numbers(field, bad):
    from shared.events.models import status_event_adapter

    assert f"data.{field}" in _errors(kpi_status_json(**{field: bad}), status_event_adapter)


def test_a_nan_status_event_on_the_wire_is_a_validation_error_for_the_notifier():
    from shared.events.codec import decode_status_event

    headers = [
        ("content-type", b"application/json"),
        ("ce_specversion", b"1.0"),
        ("ce_id", b"kpi-1"),
        ("ce_source", b"/services/aggregator"),
        ("ce_type", b"vn.gov.pcmt.kpi.status_changed.v1"),
        ("ce_time", b"2024-06-20T08:00:00+07:00"),
    ]
    value = json.dumps(kpi_status_json(actual=math.nan)["data"]).encode()
    assert b"NaN" in value
    with pytest.raises(ValidationError, match="finite"):
        decode_status_event(value, headers)


@pytest.mark.parametrize(
    "bad", ["a\x00b", "a\rb", "a\nb", "a\tb", "a\x85b", "a\x7fb", "a\u2028b", "a\ud800b", "a\u200bb"]
)
@pytest.mark.parametrize("where", ["id", "corrects", "subject", "extension"])
def test_identifiers_hold_printable_characters_only(bad, where):
    document = {
        "id": {**CORRECTED, "id": bad},
        "corrects": {**CORRECTED, "data": {**CORRECTED["data"], "corrects": bad}},
        "subject": {**CORRECTED, "subject": bad},
        "extension": {**CORRECTED, "traceid": bad},
    }[where]
    errors = _errors(document)
    field = {"id": "id", "corrects": "data.corrects", "subject": "subject", "extension": ""}[where]
    assert field in errors, errors
    assert "printable" in errors[field] or "unicode" in errors[field]


def test_a_status_event_source_holds_printable_characters_only():
    from shared.events.models import status_event_adapter

    assert "source" in _errors(
        {**kpi_status_json(), "source": "/services/aggregator\n"}, status_event_adapter
    )


@pytest.mark.parametrize("bad", ["x\x00", "x\x0b", "x\x1b[31m", "x\x9b"])
@pytest.mark.parametrize("field", ["note", "channel", "target_groups"])
def test_free_text_refuses_control_characters_but_keeps_line_breaks(bad, field):
    data = {**ACTIVITY["data"], field: [bad] if field == "target_groups" else bad}
    assert any(k.startswith(f"data.{field}") for k in _errors({**ACTIVITY, "data": data}))
    fine = {**ACTIVITY["data"], field: ["a\tb\r\nc"] if field == "target_groups" else "a\tb\r\nc"}
    agency_event_adapter.validate_python({**ACTIVITY, "data": fine})


def test_the_nfc_and_nfd_spellings_of_an_id_are_one_id():
    import unicodedata

    nfc = "báo-cáo-quý-2-đắk-rông"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    one = agency_event_adapter.validate_python(
        {**CORRECTED, "id": nfd, "data": {**CORRECTED["data"], "corrects": nfd}}
    )
    other = agency_event_adapter.validate_python(
        {**CORRECTED, "id": nfc, "data": {**CORRECTED["data"], "corrects": nfc}}
    )
    assert one.key == other.key and one.data.corrects == other.data.corrects == nfc
    record = to_kafka(one)
    assert dict(record.headers)["ce_id"] == nfc.encode()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**REPORTED, "time": "0001-01-01T00:00:00+01:00"}, "time"),  # converting it to UTC overflows
        ({**REPORTED, "time": "9999-12-31T23:59:59-12:00"}, "time"),
        ({**REPORTED, "time": "1999-12-31T23:59:59+00:00"}, "time"),
        ({**REPORTED, "time": "2101-01-01T00:00:00+00:00"}, "time"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "date": "9999-12-31"}}, "data.date"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "date": "0001-01-01"}}, "data.date"),
    ],
)
def test_times_and_dates_lie_in_a_sane_range(document, field):
    errors = _errors(document)
    assert "between the years 2000 and 2100" in errors[field]


def test_status_event_times_lie_in_a_sane_range_too():
    from shared.events.models import status_event_adapter

    errors = _errors(kpi_status_json(as_of="0001-01-01T00:00:00+01:00"), status_event_adapter)
    assert "data.as_of" in errors


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"trace\n": "x"}, "lowercase letters or digits"),
        ({"count": 2**31}, "32-bit"),
        ({"count": -(2**31) - 1}, "32-bit"),
    ],
)
def test_extension_names_match_whole_and_integers_are_32_bit(extension, message):
    with pytest.raises(ValidationError, match=message):
        agency_event_adapter.validate_python({**REPORTED, **extension})
    agency_event_adapter.validate_python({**REPORTED, "count": 2**31 - 1, "flag": True})


# -- strict JSON (`shared.events.codec.loads`), the one reader behind every slow path --


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (json.dumps(REPORTED).encode("utf-16"), "UTF-16 or UTF-32"),
        (json.dumps(REPORTED).encode("utf-16-le"), "UTF-16 or UTF-32"),
        (json.dumps(REPORTED).encode("utf-16-be"), "UTF-16 or UTF-32"),
        (json.dumps(REPORTED).encode("utf-32"), "UTF-16 or UTF-32"),
        (json.dumps(REPORTED).encode("utf-32-le"), "UTF-16 or UTF-32"),
        (b"\xef\xbb\xbf" + json.dumps(REPORTED).encode(), "BOM"),
        (b'{"id": "\xff"}', "not UTF-8"),
        (b"[" * 10_000 + b"]" * 10_000, "more than 32 deep"),
        (b"[" * 33 + b"]" * 33, "more than 32 deep"),
        (b'{"value": ' + b"9" * 5000 + b"}", "integer of 5000 digits"),
        (b'{"value": -' + b"9" * 4301 + b"}", "integer of 4301 digits"),
        (b'{"id": "\\ud800"}', "lone surrogate"),
        (b'{"id": "\\udc00x"}', "lone surrogate"),
        (b'{"\\ud800": 1}', "lone surrogate"),
        (b'{"id": "a\x00b"}', "NUL"),
    ],
)
def test_strict_json_refuses_with_a_clear_message(body, words):
    from shared.events.codec import loads

    with pytest.raises(DecodeError, match=words):
        loads(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 32 + b"]" * 32, None),
        (
            b'{"value": ' + b"9" * 20 + b', "low": -' + b"9" * 20 + b"}",
            {"value": 10**20 - 1, "low": -(10**20 - 1)},
        ),
        (b'{"value": 1e400, "x": 0.' + b"1" * 5000 + b"}", None),  # floats: inf is refused by the models
        (b'{"id": "\\ud83d\\ude00", "path": "C:\\\\udaaa"}', {"id": "\U0001f600", "path": "C:\\udaaa"}),
        (b'{"value": NaN}', None),  # read, then refused by the models with the field's name
        ('{"ghi_chú": "Trùng một vụ"}'.encode(), {"ghi_chú": "Trùng một vụ"}),
    ],
)
def test_strict_json_reads_what_the_contract_may_take(body, expected):
    from shared.events.codec import loads

    document = loads(body)
    if expected is not None:
        assert document == expected


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**REPORTED, "data": {**REPORTED["data"], "value": 10**30}}, "data.value"),
        ({**REPORTED, "data": {**REPORTED["data"], "value": 10**4000}}, "data.value"),
        ({**ACTIVITY, "data": {**ACTIVITY["data"], "participants": 10**30}}, "data.participants"),
        ({**ASSESSED, "data": {**ASSESSED["data"], "year": -(10**40)}}, "data.year"),
    ],
)
def test_the_models_bound_every_integer_json_reads(document, field):
    from shared.events.codec import loads

    assert field in _errors(loads(json.dumps(document).encode()))


def test_binary_mode_headers_must_be_utf8_and_unique():
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s")]
    with pytest.raises(DecodeError, match=r"ce_id.*not UTF-8"):
        from_kafka(b"{}", [*headers[:1], ("ce_id", b"\xff\xfe"), *headers[2:]])
    with pytest.raises(DecodeError, match=r"ce_id.*more than once"):
        from_kafka(b"{}", [*headers, ("ce_id", b"2")])
    assert from_kafka(b"{}", [*headers, ("ce_partitionkey", None)])["partitionkey"] == ""
