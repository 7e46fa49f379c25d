"""CloudEvents HTTP binary content mode on POST /v1/events: `ce-*` headers and the data as the
body, checked exactly like structured mode (the bad-input table, sent in binary mode), problems
naming the header; the data forwarded as it was sent, on HTTP and from the raw topic."""

from __future__ import annotations

import json

import pytest

from services.intake.entrypoints.examples import examples
from shared.events.codec import to_kafka
from shared.events.models import agency_event_adapter

from .test_bad_input import CASES
from .test_raw_topic import produce

REPORTED = examples()["indicator.reported"]


@pytest.fixture(scope="module")
async def token(service) -> str:
    return await service.token("CA-TINH")


def percent(text: str) -> str:
    """The HTTP binding's encoding of a header value: UTF-8, then %XX for everything outside
    printable ASCII, space, '"' and '%'."""
    return "".join(
        chr(b) if 0x21 <= b <= 0x7E and b not in (0x22, 0x25) else f"%{b:02X}"
        for b in text.encode("utf-8", "surrogatepass")
    )


def as_binary(event: dict) -> tuple[list[tuple[str, str]], bytes]:
    headers = [("ce-" + k, percent(v)) for k, v in event.items() if k not in ("data", "datacontenttype")]
    return headers, json.dumps(event["data"], ensure_ascii=False).encode()


async def post_binary(
    service, token: str | None, headers, body: bytes, content_type: str = "application/json"
):
    auth = [("authorization", f"Bearer {token}")] if token else []
    return await service.client.post(
        "/v1/events", content=body, headers=[("content-type", content_type), *auth, *headers]
    )


async def canonical(service, event_id: str):
    return [
        r
        for r in await service.read(service.settings.events_topic, 100, timeout=3)
        if dict(r.headers)["ce_id"] == event_id.encode()
    ]


async def test_binary_event_is_accepted_and_its_data_stored_as_sent(service, token):
    event = {
        **REPORTED,
        "id": "bin-1",
        "data": {"indicator": "drug_cases_detected", "period": "2024-06", "value": 11},
    }
    headers, body = as_binary(event)
    body = b'{"indicator": "drug_cases_detected",\n "period": "2024-06", "value": 11}'
    response = await post_binary(service, token, headers, body)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "id": "bin-1"}
    [record] = await canonical(service, "bin-1")
    assert record.value == body  # not 11.0, no "note": null
    assert dict(record.headers)["ce_time"] == REPORTED["time"].encode()
    assert record.key == b"CA-TINH"
    # the same event in structured mode is the same event: a duplicate, with no "different content"
    again = await service.post(event, token)
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "id": "bin-1"}


async def test_header_values_are_percent_decoded(service, token):
    event_id = "bin-đợt-1 tháng 6"  # non-ASCII and a space: percent-encoded
    headers, body = as_binary({**examples()["report.submitted"], "id": event_id})
    assert ("ce-id", "bin-%C4%91%E1%BB%A3t-1%20th%C3%A1ng%206") in headers
    response = await post_binary(service, token, headers, body)
    assert response.status_code == 202, response.text
    assert response.json()["id"] == event_id
    [record] = await canonical(service, event_id)
    assert dict(record.headers)["ce_id"] == event_id.encode()


BINARY_CASES = [
    c
    for c in CASES
    if isinstance(c[1], dict)
    and "data" in c[1]
    and all(isinstance(v, str) for k, v in c[1].items() if k != "data")
]


def test_the_table_is_mostly_sendable_in_binary_mode():
    assert len(BINARY_CASES) >= 25


@pytest.mark.parametrize(
    "name, event, status, reason, pointer, words", BINARY_CASES, ids=[c[0] for c in BINARY_CASES]
)
async def test_bad_input_in_binary_mode(service, token, name, event, status, reason, pointer, words):
    headers, body = as_binary(event)
    response = await post_binary(service, token, headers, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == reason
    assert words in problem["detail"] or any(words in e["detail"] for e in problem.get("errors", []))
    if pointer:
        header = pointer if pointer.startswith("/data") else "ce-" + pointer[1:]
        assert header in [e["pointer"] for e in problem["errors"]], problem
        if not pointer.startswith("/data"):
            assert pointer not in problem["detail"].split()  # the summary names the header too
            assert [e["path"] for e in problem["errors"] if e["pointer"] == header] == [header]


def sent(**change):
    """The headers and body of a valid binary report, with attributes changed (None: left out)."""
    headers, body = as_binary({**REPORTED, "id": "bin-bad"})
    named = dict(headers)
    for name, value in change.items():
        named.pop("ce-" + name, None)
        if value is not None:
            named["ce-" + name] = value
    return list(named.items()), body


@pytest.mark.parametrize(
    "headers, body, content_type, status, reason, pointer, words",
    [
        (*sent(time="2024-06-20"), "application/json", 422, "invalid-event", "ce-time", "ce-time "),
        (*sent(id=None), "application/json", 422, "invalid-event", "ce-id", "is required"),
        (*sent(type=None), "application/json", 422, "invalid-event", "ce-type", "`type` is missing"),
        (*sent(source="/agencies/HQ"), "application/json", 403, "source-mismatch", "ce-source", "must be"),
        (*sent(id="bad%0Aid"), "application/json", 422, "invalid-event", "ce-id", "U+000A"),
        (*sent(id="100%"), "application/json", 400, "not-a-cloudevent", None, "two hex digits"),
        (*sent(id="x%FFy"), "application/json", 400, "not-a-cloudevent", None, "not UTF-8"),
        (
            *sent(specversion=None),
            "application/json",
            400,
            "not-a-cloudevent",
            None,
            "no ce-specversion header",
        ),
        (
            *sent(specversion="1%FF"),
            "application/json",
            400,
            "not-a-cloudevent",
            None,
            "'ce-specversion' is not UTF-8",
        ),
        (*sent(), "application/json; charset=utf-8", 202, None, None, None),
        (sent()[0], b'{"indicator": ', "application/json", 400, "malformed-json", None, "not valid JSON"),
        (sent()[0], b'{"value": "\xff"}', "application/json", 400, "malformed-json", None, "not UTF-8"),
        (
            sent()[0] + [("ce-big", "x" * 70_000)],
            sent()[1],
            "application/json",
            413,
            "too-large",
            None,
            "data and ce-* headers",
        ),
        (*sent(), "text/plain", 415, "unsupported-media-type", None, "application/json (binary"),
    ],
    ids=[
        "time-without-offset",
        "no-id",
        "no-type",
        "foreign-source",
        "LF-in-id",
        "bad-percent",
        "not-utf8-header",
        "no-specversion",
        "specversion-not-utf8",
        "charset",
        "body-not-json",
        "body-not-utf8",
        "headers-too-large",
        "text-plain",
    ],
)
async def test_binary_mode_problems_name_the_header(
    service, token, headers, body, content_type, status, reason, pointer, words
):
    response = await post_binary(service, token, headers, body, content_type)
    assert response.status_code == status, response.text
    if reason is None:
        return
    problem = response.json()
    assert problem["reason"] == reason, problem
    assert words in problem["detail"] or any(words in e["detail"] for e in problem.get("errors", [])), problem
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]], problem


async def test_an_attribute_sent_twice_is_refused(service, token):
    headers, body = sent()
    response = await post_binary(service, token, [*headers, ("ce-id", "other")], body)
    assert response.status_code == 400 and "appears more than once" in response.json()["detail"]


async def test_a_whole_event_sent_as_application_json_is_told_the_structured_type(service, token):
    response = await post_binary(service, token, [], json.dumps({**REPORTED, "id": "bin-whole"}).encode())
    assert response.status_code == 400
    assert "application/cloudevents+json" in response.json()["detail"]


async def test_binary_mode_needs_a_token_first(service):
    headers, body = sent(time="nonsense")
    response = await post_binary(service, None, headers, body)
    assert response.status_code == 401


async def test_raw_topic_data_is_forwarded_byte_for_byte(service):
    """What the agency wrote on the raw topic is what the canonical topic holds: `11` is not
    re-encoded as `11.0`, an absent note does not become `"note": null`, spacing is kept."""
    doc = {
        **REPORTED,
        "id": "raw-as-sent",
        "data": {"indicator": "drug_cases_detected", "period": "2024-06", "value": 11},
    }
    record = to_kafka(agency_event_adapter.validate_python(doc))
    value = b'{"value": 11, "period": "2024-06", "indicator": "drug_cases_detected"}'
    await produce(service, [(record.key, value, record.headers)])
    for _ in range(20):
        if forwarded := await canonical(service, "raw-as-sent"):
            break
    assert [r.value for r in forwarded] == [value]
