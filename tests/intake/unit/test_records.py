"""Intake forwards the shared codec's binary-mode record, without a forged warnings header; the
codec writes what its `model_dump`-based version wrote (topics and registries hold that form)."""

import json

import pytest

from services.intake.domain.plan_rules import Plausibility
from services.intake.domain.records import digest, to_record, with_warnings
from services.intake.entrypoints.examples import examples
from shared.events.codec import KafkaRecord, decode_agency_event, to_kafka
from shared.events.models import agency_event_adapter


def as_before(event, drop=()) -> KafkaRecord:
    """The encoder as it was written before 2026-11-29, through `model_dump`: the reference."""
    attributes = event.model_dump(mode="json", exclude_none=True, exclude={"data", *drop})
    headers = [("content-type", attributes.pop("datacontenttype", "application/json").encode())]
    headers += [
        ("ce_" + n, v.encode() if type(v) is str else json.dumps(v).encode()) for n, v in attributes.items()
    ]
    return KafkaRecord(event.agency.encode(), event.data.__pydantic_serializer__.to_json(event.data), headers)


VARIANTS = [
    {},
    {"subject": "commune/HH-KHE-SANH", "traceparent": "00-abc-def-01", "partof": "campaign-2024"},
    {"time": "2024-06-20T01:00:00Z"},
    {"time": "2024-06-20T08:00:00.123456+07:00"},
    {"time": "2024-06-20T08:00:00.5-00:00"},
]


@pytest.mark.parametrize("kind", list(examples()))
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_example_round_trips_through_the_forwarded_record(kind, variant):
    event = agency_event_adapter.validate_python({**examples()[kind], **variant})
    record = to_record(event)
    assert record == to_kafka(event) == as_before(event)
    assert record.key == event.agency.encode()
    assert decode_agency_event(record.value, record.headers) == event


def test_unicode_and_floats_survive():
    doc = examples()["indicator.reported"]
    event = agency_event_adapter.validate_python(
        {**doc, "data": {**doc["data"], "value": 1e11 + 0.5, "note": 'Đông Hà — "quý" \\ \n'}}
    )
    record = to_record(event)
    assert record == to_kafka(event) == as_before(event)
    assert decode_agency_event(record.value, record.headers) == event


def test_integer_and_boolean_extensions_are_written_as_the_codec_writes_them():
    event = agency_event_adapter.validate_python({**examples()["activity.recorded"], "n": 3, "flag": True})
    assert to_record(event) == to_kafka(event) == as_before(event)
    assert dict(to_record(event).headers)["ce_flag"] == b"true"


def test_only_intake_sets_the_warnings_extension_and_the_digest_ignores_it():
    forged = agency_event_adapter.validate_python({**examples()["report.submitted"], "warnings": "none"})
    clean = agency_event_adapter.validate_python(examples()["report.submitted"])
    assert "ce_warnings" not in dict(to_record(forged).headers)
    assert to_record(forged) == as_before(forged, drop={"warnings"})
    assert digest(to_record(forged)) == digest(to_record(clean))
    flagged = with_warnings(to_record(clean), [Plausibility("a", "x"), Plausibility("b", "y")])
    assert dict(flagged.headers)["ce_warnings"] == b"a,b"


def test_digest_differs_when_content_differs():
    doc = examples()["indicator.reported"]
    one = agency_event_adapter.validate_python(doc)
    two = agency_event_adapter.validate_python({**doc, "data": {**doc["data"], "value": 18}})
    assert digest(to_record(one)) != digest(to_record(two))


def test_the_digest_stays_what_registries_already_hold():
    # Registries keep digests across upgrades: a new algorithm would answer every re-send of an
    # old event "different content". This value was written by the per-event encoder before 2026-11-29.
    event = agency_event_adapter.validate_python({**examples()["indicator.reported"], "subject": "x", "n": 1})
    assert digest(to_record(event)) == "c9d0a442bdd3a7bd2bb70005878b5d21"
