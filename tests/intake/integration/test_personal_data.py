"""Both doors refuse free text that carries a personal identifier, with the same problem: HTTP
answers 422 `personal-data` naming the field, the raw topic dead-letters the record with that
reason, and nothing reaches the canonical topic."""

from __future__ import annotations

import json

from services.intake.entrypoints.examples import examples
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter
from shared.kafka import make_producer


def _with(kind: str, id: str, **data) -> dict:
    doc = examples("CA-TINH")[kind]
    return {**doc, "id": id, "data": {**doc["data"], **data}}


async def test_http_refuses_a_note_with_a_phone_number_naming_the_field(service) -> None:
    token = await service.token("CA-TINH")
    answer = await service.post(
        _with("indicator.reported", "pii-http-1", note="người báo tin 0912 345 678"), token
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["reason"] == "personal-data"
    assert [e["pointer"] for e in body["errors"]] == ["/data/note"]
    assert "phone number" in body["errors"][0]["detail"]
    assert "0912" not in answer.text
    clean = await service.post(_with("indicator.reported", "pii-http-2", note="12 thôn, 1.250 lượt"), token)
    assert clean.status_code == 202, clean.text


async def test_the_raw_topic_dead_letters_a_correction_reason_with_a_citizen_id(service) -> None:
    bad = to_kafka(
        agency_event_adapter.validate_python(
            {
                **_with("indicator.corrected", "pii-raw-1"),
                "data": {**examples("CA-TINH")["indicator.corrected"]["data"], "reason": "CCCD 045203001234"},
            }
        )
    )
    good = to_kafka(agency_event_adapter.validate_python(_with("report.submitted", "pii-raw-2")))
    producer = make_producer(service.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for record in (bad, good):
            await producer.send_and_wait(
                service.settings.raw_topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()
    forwarded = await service.read(service.settings.events_topic, 2, timeout=8)
    ids = [dict(r.headers)["ce_id"] for r in forwarded]
    assert b"pii-raw-2" in ids and b"pii-raw-1" not in ids
    dead = [
        r
        for r in await service.read(service.settings.dlq_topic, 1)
        if dict(r.headers)["ce_id"] == b"pii-raw-1"
    ]
    assert [dict(r.headers)["dlq_reason"] for r in dead] == [b"personal-data"]
    assert json.loads(dict(dead[0].headers)["dlq_errors"])[0]["pointer"] == "/data/reason"
    # the identifier does not travel on to the DLQ's readers; the rest of the record does
    assert b"045203001234" not in dead[0].value
    assert json.loads(dead[0].value)["reason"] == "CCCD XXXXXXXXXXXX"
