"""The bad-input table: every mistake an integrator can make, its status, reason and field."""

from __future__ import annotations

import json

import pytest

from services.intake.entrypoints.examples import examples


@pytest.fixture(scope="module")
async def token(service) -> str:
    return await service.token("CA-TINH")


def ev(kind: str, **data):
    doc = examples()[kind]
    return {**doc, "id": f"bad-{kind}", "data": {**doc["data"], **data}}


def without(doc: dict, key: str) -> dict:
    return {k: v for k, v in doc.items() if k != key}


REPORT = ev("indicator.reported")
CASES = [
    # (name, body, status, reason, pointer or None, words in detail)
    ("not JSON", b'{"id": ', 400, "malformed-json", None, "not valid JSON"),
    ("not UTF-8", b'{"id": "\xff"}', 400, "malformed-json", None, "not UTF-8"),
    ("array on single endpoint", [REPORT], 400, "not-a-cloudevent", None, "got an array"),
    ("no type", without(REPORT, "type"), 422, "invalid-event", "/type", "`type` is missing"),
    (
        "unknown type",
        {**REPORT, "type": "vn.gov.pcmt.budget.spent.v1"},
        422,
        "unknown-event-type",
        "/type",
        "known types",
    ),
    (
        "unknown version",
        {**REPORT, "type": "vn.gov.pcmt.indicator.reported.v3"},
        422,
        "unknown-event-type",
        "/type",
        "send vn.gov.pcmt.indicator.reported.v1",
    ),
    (
        "wrong specversion",
        {**REPORT, "specversion": "0.3"},
        422,
        "invalid-event",
        "/specversion",
        "must be '1.0'",
    ),
    ("missing id", without(REPORT, "id"), 422, "invalid-event", "/id", "is required"),
    (
        "value as text",
        ev("indicator.reported", value="seventeen"),
        422,
        "invalid-event",
        "/data/value",
        "number",
    ),
    (
        "unknown field",
        ev("indicator.reported", colour="red"),
        422,
        "invalid-event",
        "/data/colour",
        "remove it",
    ),
    (
        "time without offset",
        {**REPORT, "time": "2024-06-20T08:00:00"},
        422,
        "invalid-event",
        "/time",
        "UTC offset",
    ),
    (
        "unknown indicator",
        ev("indicator.reported", indicator="drug_cases"),
        422,
        "unknown-indicator",
        "/data/indicator",
        "is not in the plan",
    ),
    (
        "unknown activity",
        ev("activity.recorded", activity="concert"),
        422,
        "unknown-activity",
        "/data/activity",
        "known: action_month_event, inspection, national_day_event, propaganda_session",
    ),
    (
        "period malformed",
        ev("indicator.reported", period="June 2024"),
        422,
        "invalid-event",
        "/data/period",
        "2024-Q2 or 2024-06",
    ),
    (
        "period outside plan year",
        ev("indicator.reported", period="2023-12"),
        422,
        "outside-plan-year",
        "/data/period",
        "outside the plan year 2024",
    ),
    (
        "value negative",
        ev("indicator.reported", value=-3),
        422,
        "invalid-event",
        "/data/value",
        "not be negative",
    ),
    (
        "value NaN",
        ev("indicator.reported", value=float("nan")),
        422,
        "invalid-event",
        "/data/value",
        "finite",
    ),
    (
        "value infinite",
        ev("indicator.reported", value=float("inf")),
        422,
        "invalid-event",
        "/data/value",
        "finite",
    ),
    (
        "value above the plan's cap",
        ev("indicator.reported", value=1001),
        422,
        "value-above-cap",
        "/data/value",
        "cap of 1000",
    ),
    (
        "time in the future",
        {**REPORT, "time": "2024-06-20T09:00:00+07:00"},
        422,
        "time-in-future",
        "/time",
        "ahead of the server's clock",
    ),
    (
        "correction of nothing",
        ev("indicator.corrected", corrects="never-sent"),
        422,
        "correction-target-unknown",
        "/data/corrects",
        "no accepted event with that id",
    ),
    # issue 15: the Decree 09/2019 reporting year (15 Dec 2023 - 14 Dec 2024): nothing accepted and counted nowhere
    (
        "activity dated 20 Dec 2024",
        ev("activity.recorded", date="2024-12-20"),
        422,
        "outside-plan-year",
        "/data/date",
        "belongs to the 2025 reporting year (15 Dec 2024 – 14 Dec 2025",
    ),
    (
        "activity dated 14 Dec 2023",
        ev("activity.recorded", date="2023-12-14"),
        422,
        "outside-plan-year",
        "/data/date",
        "belongs to the 2023 reporting year",
    ),
    # issue 14: inputs that were answered 5xx, or accepted and then stopped a consumer
    (
        "JSON nested 10,000 deep",
        b"[" * 10_000 + b"]" * 10_000,
        400,
        "malformed-json",
        None,
        "more than 32 deep",
    ),
    (
        "5,000-digit integer",
        json.dumps(REPORT).replace('"value": 17', '"value": ' + "9" * 5000).encode(),
        400,
        "malformed-json",
        None,
        "integer of 5000 digits",
    ),
    (
        "type an object",
        {**REPORT, "type": {}},
        422,
        "unknown-event-type",
        "/type",
        "must be a string; got an object",
    ),
    (
        "type an array",
        {**REPORT, "type": []},
        422,
        "unknown-event-type",
        "/type",
        "must be a string; got an array",
    ),
    (
        "activity dated 9999-12-31",
        ev("activity.recorded", date="9999-12-31"),
        422,
        "invalid-event",
        "/data/date",
        "between the years 2000 and 2100",
    ),
    ("NUL in id", {**REPORT, "id": "bad-\u0000"}, 422, "invalid-event", "/id", "printable characters only"),
    (
        "NUL in corrects",
        ev("indicator.corrected", corrects="x\u0000"),
        422,
        "invalid-event",
        "/data/corrects",
        "printable characters only",
    ),
    ("CR LF in id", {**REPORT, "id": "bad\r\nid"}, 422, "invalid-event", "/id", "U+000D"),
    (
        "time in year 1",
        {**REPORT, "time": "0001-01-01T00:00:00+01:00"},
        422,
        "invalid-event",
        "/time",
        "between the years 2000 and 2100",
    ),
    (
        "time before the plan year",
        {**REPORT, "time": "2023-01-01T00:00:00+07:00"},
        422,
        "outside-plan-year",
        "/time",
        "before the plan year 2024",
    ),
    (
        "value true",
        ev("indicator.reported", value=True),
        422,
        "invalid-event",
        "/data/value",
        "must be a number; got a boolean",
    ),
    (
        "value quoted",
        ev("indicator.reported", value="5"),
        422,
        "invalid-event",
        "/data/value",
        "must be a number; got a string",
    ),
    ("UTF-16 body", json.dumps(REPORT).encode("utf-16"), 400, "malformed-json", None, "UTF-16 or UTF-32"),
    ("UTF-32 body", json.dumps(REPORT).encode("utf-32-le"), 400, "malformed-json", None, "UTF-16 or UTF-32"),
    (
        "lone surrogate in id",
        json.dumps({**REPORT, "id": "bad-\ud800"}).encode(),
        400,
        "malformed-json",
        None,
        "lone surrogate",
    ),
]


@pytest.mark.parametrize("name, body, status, reason, pointer, words", CASES, ids=[c[0] for c in CASES])
async def test_bad_input(service, token, name, body, status, reason, pointer, words):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await service.post(raw, token)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == reason
    assert problem["type"].endswith("/" + reason) and problem["status"] == status
    assert words in problem["detail"] or any(words in e["detail"] for e in problem.get("errors", []))
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]]


async def test_plausibility_is_a_warning_on_an_accepted_event(service, token):
    event = {**ev("activity.recorded", participants=14001), "id": "crowd"}
    response = await service.post(event, token)
    assert response.status_code == 202
    assert response.json()["warnings"][0]["code"] == "participants-above-population"
    [record] = [
        r
        for r in await service.read(service.settings.events_topic, 100, timeout=3)
        if dict(r.headers)["ce_id"] == b"crowd"
    ]
    assert dict(record.headers)["ce_warnings"] == b"participants-above-population"


async def test_a_client_cannot_forge_the_warnings_extension(service, token):
    event = {**ev("report.submitted"), "id": "forged-warnings", "warnings": "all-good"}
    assert (await service.post(event, token)).status_code == 202
    [record] = [
        r
        for r in await service.read(service.settings.events_topic, 100, timeout=3)
        if dict(r.headers)["ce_id"] == b"forged-warnings"
    ]
    assert "ce_warnings" not in dict(record.headers)


async def test_wrong_content_type_is_415_and_names_the_right_one(service, token):
    response = await service.post(REPORT, token, content_type="text/plain")
    assert response.status_code == 415
    assert "takes application/cloudevents+json" in response.json()["detail"]
    # application/json is binary content mode: a whole event sent so is told the structured type
    response = await service.post(REPORT, token, content_type="application/json")
    assert response.status_code == 400
    assert "send it with Content-Type application/cloudevents+json" in response.json()["detail"]


async def test_event_over_64_kib_is_413(service, token):
    big = ev("indicator.reported", note="x" * (64 * 1024))
    response = await service.post(big, token)
    assert response.status_code == 413
    assert "at most 65536 bytes (64 KiB)" in response.json()["detail"]


async def test_a_body_without_content_length_is_still_cut_at_the_limit(service, token):
    async def chunks():
        yield b'{"note": "'
        for _ in range(70):
            yield b"x" * 1024

    headers = {"content-type": "application/cloudevents+json", "authorization": f"Bearer {token}"}
    response = await service.client.post("/v1/events", content=chunks(), headers=headers)
    assert response.status_code == 413 and "over" in response.json()["detail"]


async def test_a_nul_in_an_id_is_refused_before_postgresql_and_the_rest_of_the_batch_is_accepted(
    service, token
):
    """It used to reach the registry, which refused it: 503 registry-unavailable for the whole batch."""
    good = {**ev("report.submitted"), "id": "nul-batch-good"}
    bad = {**ev("report.submitted"), "id": "nul-batch-\u0000"}
    response = await service.post_batch([good, bad], token)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert results[1]["problem"]["reason"] == "invalid-event"
    assert results[1]["problem"]["errors"][0]["pointer"] == "/id"
