"""Batches with per-event results, duplicates answered as such, per-agency rate limit."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.intake.entrypoints.examples import examples

from .conftest import start_service


@pytest.fixture(scope="module")
async def token(service) -> str:
    return await service.token("CA-TINH")


def report(i: int, **data) -> dict:
    doc = examples()["indicator.reported"]
    return {**doc, "id": f"batch-{i}", "data": {**doc["data"], "value": i, **data}}


async def test_one_bad_event_does_not_reject_the_good_ones(service, token):
    events = [report(1), report(2, value=-1), {"oops": True}, report(3), report(1)]
    fast_path = await service.post_batch(
        [report(4), report(5, value=5000)], token
    )  # schema-valid, plan says no
    assert [(r["status"], r["id"]) for r in fast_path.json()["results"]] == [
        ("accepted", "batch-4"),
        ("rejected", "batch-5"),
    ]
    response = await service.post_batch(events, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, 2)
    statuses = [(r["index"], r["status"], r["id"]) for r in body["results"]]
    assert statuses == [
        (0, "accepted", "batch-1"),
        (1, "rejected", "batch-2"),
        (2, "rejected", None),
        (3, "accepted", "batch-3"),
        (4, "duplicate", "batch-1"),
    ]
    assert body["results"][1]["problem"]["errors"][0]["pointer"] == "/data/value"
    records = await service.read(service.settings.events_topic, 3)
    assert sorted(dict(r.headers)["ce_id"] for r in records) == [b"batch-1", b"batch-3", b"batch-4"]


async def test_every_documented_example_is_accepted_in_one_batch(service):
    token = await service.token("CA-TINH")
    events = list(examples().values())
    events[0] = {**events[0], "id": "example-original"}
    events[1] = {
        **events[1],
        "id": "example-fix",
        "data": {**events[1]["data"], "corrects": "example-original"},
    }
    body = (await service.post_batch(events, token)).json()
    assert [r["status"] for r in body["results"]] == ["accepted"] * len(events), body


async def test_a_correction_of_a_correction_is_accepted_the_next_request_or_the_same_batch(service, token):
    """Issue 15: the chain resolves to its latest link in the aggregator (docs/events.md)."""
    doc = examples()["indicator.corrected"]

    def fix(id: str, corrects: str, value: int) -> dict:
        return {**doc, "id": id, "data": {**doc["data"], "corrects": corrects, "value": value}}

    assert (await service.post({**report(0), "id": "chain-0"}, token)).status_code == 202
    assert (await service.post(fix("chain-1", "chain-0", 19), token)).status_code == 202
    second = await service.post(fix("chain-2", "chain-1", 18), token)
    assert second.status_code == 202, second.text
    body = (
        await service.post_batch([fix("chain-3", "chain-2", 17), fix("chain-4", "chain-3", 5000)], token)
    ).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"], body
    assert (
        body["results"][1]["problem"]["reason"] == "value-above-cap"
    )  # the report's indicator's cap, down the chain


async def test_a_resent_event_is_a_duplicate_not_an_error_and_is_not_forwarded_again(service, token):
    event = report(10)
    first = await service.post(event, token)
    again = await service.post(event, token)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"status": "duplicate", "id": "batch-10"}
    reused = await service.post({**event, "data": {**event["data"], "value": 11}}, token)
    assert reused.json()["status"] == "duplicate" and "different content" in reused.json()["detail"]
    records = await service.read(service.settings.events_topic, 10, timeout=3)
    assert [dict(r.headers)["ce_id"] for r in records].count(b"batch-10") == 1


async def test_batch_limits(service, token):
    too_many = await service.post_batch([report(i) for i in range(501)], token)
    assert too_many.status_code == 413 and "at most 500 per batch" in too_many.json()["detail"]
    huge = [report(i, note="x" * 1900) for i in range(500)]
    assert len(json.dumps(huge)) > 1024 * 1024
    assert (await service.post_batch(huge, token)).status_code == 413
    single = await service.post_batch(report(1), token)
    assert single.status_code == 400 and "JSON array" in single.json()["detail"]
    wrong = await service.post_batch([report(1)], token, content_type="application/cloudevents+json")
    assert wrong.status_code == 415


async def test_an_oversized_event_inside_a_batch_is_rejected_alone(service, token):
    events = [report(20), report(21, note="x" * 1999) | {"extra_attr": "y" * 70_000}]
    body = (await service.post_batch(events, token)).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
    assert body["results"][1]["problem"]["reason"] == "too-large"


async def test_concurrent_batches_sharing_kafka_batches_are_each_answered_and_written_once(service, token):
    """Requests that arrive together share producer batches (the publisher's lanes)."""
    hq = await service.token("HQ")
    other = examples("HQ")["report.submitted"]
    batches = [([report(1000 + 40 * k + i, value=7) for i in range(40)], token) for k in range(5)]
    batches += [([{**other, "id": f"hq-together-{i}"} for i in range(3)], hq)]
    answers = await asyncio.gather(*(service.post_batch(events, t) for events, t in batches))
    assert [a.json()["accepted"] for a in answers] == [40] * 5 + [3]
    records = await service.read(service.settings.events_topic, 1000, timeout=3)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    sent = {e["id"] for events, _ in batches for e in events}
    assert sorted(i for i in ids if i in sent) == sorted(sent)


@pytest.fixture
async def tight(intake_db, kafka_bootstrap):
    async for s in start_service(
        intake_db,
        kafka_bootstrap,
        INTAKE_RATE_PER_S=2,
        INTAKE_RATE_BURST=5,
        INTAKE_MAX_BATCH_EVENTS=5,
        INTAKE_RAW_CONSUMER=False,
    ):
        yield s


async def test_rate_limit_is_per_agency_with_retry_after(tight):
    ca, hq = await tight.token("CA-TINH"), await tight.token("HQ")
    assert (await tight.post_batch([report(30 + i) for i in range(5)], ca)).status_code == 200
    limited = await tight.post(report(40), ca)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert "may send 2 events/s" in limited.json()["detail"]
    other = examples("HQ")["report.submitted"]
    assert (await tight.post(other, hq)).status_code == 202  # another agency is not slowed down
    tight.monotonic.t += 0.5
    assert (await tight.post(report(40), ca)).status_code == 202


async def test_an_unexpected_failure_is_a_problem_document_not_a_stack_trace(service, token, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(service.container.intake, "submit", broken)
    response = await service.post(report(99), token)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "nothing was accepted" in response.json()["detail"] and "boom" not in response.text


async def test_without_the_registry_nothing_is_accepted_not_even_after_kafka_acked(
    service, token, monkeypatch
):
    registry = service.container.intake.registry

    async def down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(registry, "lookup", down)
    refused = await service.post(report(100), token)
    assert refused.status_code == 503 and refused.json()["reason"] == "registry-unavailable"
    assert "retry-after" in refused.headers
    monkeypatch.undo()
    # Kafka took it but intake cannot remember it (a correction of it would be refused): 503,
    # and the re-send once the registry is back is accepted, its second copy counted once downstream.
    monkeypatch.setattr(registry, "record", down)
    unrecorded = await service.post(report(101), token)
    assert unrecorded.status_code == 503 and unrecorded.json()["reason"] == "registry-unavailable"
    monkeypatch.undo()
    assert (await service.post(report(101), token)).status_code == 202
    assert (await service.post(report(101), token)).status_code == 200  # now a known duplicate
    records = await service.read(service.settings.events_topic, 100, timeout=3)
    ids = [dict(r.headers)["ce_id"] for r in records]
    assert ids.count(b"batch-101") == 2 and b"batch-100" not in ids
