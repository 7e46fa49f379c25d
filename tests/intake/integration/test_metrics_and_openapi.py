"""Metrics with bounded labels; the committed OpenAPI document matches the app."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from services.intake.entrypoints import openapi_docs
from services.intake.entrypoints.examples import examples

from .test_raw_topic import binary, produce, until


async def samples(service) -> list:
    text = (await service.client.get("/metrics/")).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


async def test_outcomes_by_path_and_reason_with_bounded_labels_and_no_agency(service):
    token = await service.token("CA-TINH")
    ok = examples()["report.submitted"]
    await service.post(ok, token)
    await service.post(ok, token)  # duplicate
    await service.post({**ok, "id": "m-bad", "data": {"period": "2023"}}, token)
    for i in range(30):  # thirty strangers on the raw topic: one "unknown" label, not thirty
        stranger = binary("report.submitted", id=f"stranger-{i}")
        headers = [(k, f"/agencies/X{i}".encode() if k == "ce_source" else v) for k, v in stranger.headers]
        await produce(service, [(stranger.key, stranger.value, headers)])
    for path in ("/nope/1", "/nope/2", "/v1/eventz"):
        await service.client.get(path)

    async def all_dead_lettered() -> bool:
        return any(s.name == "intake_dlq_writes_total" and s.value == 30 for s in await samples(service))

    await until(all_dead_lettered)
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in await samples(service)}

    def events(path, outcome, reason=""):
        return found[("intake_events_total", (("outcome", outcome), ("path", path), ("reason", reason)))]

    assert events("http", "accepted") == 1
    assert events("http", "duplicate") == 1
    assert events("http", "rejected", "outside-plan-year") == 1
    assert events("kafka", "rejected", "source-mismatch") == 30
    exposed = (await service.client.get("/metrics/")).text
    assert "agency=" not in exposed and "CA-TINH" not in exposed  # the public port names no agency
    routes = {dict(labels).get("route") for name, labels in found if name == "intake_request_seconds_count"}
    assert routes == {"/v1/events", "/metrics", "other"}
    assert found[("intake_kafka_publish_seconds_count", ())] >= 2  # the accepted event and the DLQ batch(es)


def test_committed_openapi_document_is_current():
    committed = openapi_docs.DOC_PATH.read_text(encoding="utf-8")
    current = openapi_docs.render(openapi_docs._app_for_docs())
    assert committed == current, "docs/openapi-intake.json drifted: run `tiendo intake openapi`"


def test_openapi_has_an_example_of_every_event_type_and_every_problem_reason():
    document = json.loads(openapi_docs.DOC_PATH.read_text(encoding="utf-8"))
    single = document["paths"]["/v1/events"]["post"]
    body_examples = single["requestBody"]["content"]["application/cloudevents+json"]["examples"]
    assert {e["value"]["type"] for e in body_examples.values()} == {e["type"] for e in examples().values()}
    described = " ".join(r["description"] for r in single["responses"].values())
    from services.intake.domain.problems import REASONS

    missing = [r for r in REASONS if f"`{r}`" not in described and r != "internal-error"]
    assert missing == []
    assert document["components"]["securitySchemes"]["agencyToken"]["scheme"] == "bearer"
