"""Binary-mode data is forwarded as sent, unless the contract changed a value while reading it."""

from __future__ import annotations

import json
import unicodedata

from services.intake.domain.records import as_sent, digest, to_record
from services.intake.entrypoints.examples import examples
from shared.events.codec import from_kafka, to_kafka
from shared.events.models import agency_event_adapter


def received(kind: str, value: bytes):
    canonical = to_kafka(agency_event_adapter.validate_python(examples()[kind]))
    document = from_kafka(value, canonical.headers)
    event = agency_event_adapter.validate_python(document)
    return to_record(event), event, document


def test_the_data_bytes_are_kept_and_the_digest_is_of_the_canonical_form():
    value = b'{"period": "2024-06", "value": 11,  "indicator": "drug_cases_detected"}'
    record, event, document = received("indicator.reported", value)
    kept = as_sent(record, event, document)
    assert kept.value == value and kept.headers == record.headers and kept.key == record.key
    assert b"11.0" in record.value and digest(record) != digest(kept)  # callers digest `record`


def test_a_value_the_contract_normalised_is_forwarded_in_canonical_form():
    nfd = unicodedata.normalize("NFD", "sửa-đợt")
    value = json.dumps({"corrects": nfd, "value": 3, "reason": "x"}).encode()
    record, event, document = received("indicator.corrected", value)
    assert event.data.corrects != nfd
    assert as_sent(record, event, document).value == record.value


def test_structured_documents_are_re_encoded_as_before():
    event = agency_event_adapter.validate_python(examples()["indicator.reported"])
    record = to_record(event)
    assert as_sent(record, event, dict(examples()["indicator.reported"])) is record
