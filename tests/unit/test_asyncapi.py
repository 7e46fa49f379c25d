"""docs/asyncapi.yaml: current with the models, its examples valid by its own schemas and by the
contract itself, and served by intake (the AsyncAPI parser's verdict: tests/intake/integration/
test_asyncapi_parser.py)."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
import yaml

from services.intake.entrypoints import asyncapi_docs
from services.intake.entrypoints.examples import examples
from shared.events.codec import from_kafka
from shared.events.models import agency_event_adapter


def test_committed_asyncapi_document_is_current():
    committed = asyncapi_docs.DOC_PATH.read_text(encoding="utf-8")
    assert committed == asyncapi_docs.render(), (
        "docs/asyncapi.yaml drifted: run `python -m services.intake.entrypoints.asyncapi_docs`"
    )


DOC = yaml.safe_load(asyncapi_docs.DOC_PATH.read_text(encoding="utf-8"))


def resolved(schema: dict) -> dict:
    """The schema with the document's components, so `#/components/...` refs resolve."""
    return {**schema, "components": DOC["components"]}


def test_four_topics_and_every_agency_event_type_on_the_raw_and_canonical_topics():
    assert {c["address"] for c in DOC["channels"].values()} == {
        "progress.raw.v1.{agency}",
        "progress.raw.v1",
        "progress.events.v1",
        "progress.dlq.v1",
        "kpi.status.v1",
    }
    for raw in ("agencyRaw", "raw"):
        names = {
            DOC["components"]["messages"][r["$ref"].rsplit("/", 1)[1]]["name"]
            for r in DOC["channels"][raw]["messages"].values()
        }
        assert names == {e["type"] for e in examples().values()}


def test_the_broker_is_described_as_needing_scram_credentials():
    scheme = DOC["components"]["securitySchemes"]["scram"]
    assert scheme["type"] == "scramSha512"
    for server in DOC["servers"].values():
        assert server["security"] == [{"$ref": "#/components/securitySchemes/scram"}]
    assert DOC["channels"]["agencyRaw"]["parameters"]["agency"]["description"]


@pytest.mark.parametrize("name", [n for n, m in DOC["components"]["messages"].items() if m.get("examples")])
def test_each_example_matches_its_schemas_and_the_contract(name):
    message = DOC["components"]["messages"][name]
    for example in message["examples"]:
        jsonschema.validate(example["headers"], resolved(message["headers"]))
        jsonschema.validate(example["payload"], resolved(message["payload"]))
        headers = [(k, v.encode()) for k, v in example["headers"].items()]
        value = json.dumps(example["payload"]).encode()
        event = agency_event_adapter.validate_python(from_kafka(value, headers))
        assert str(event.type) == message["name"]


def test_a_wrong_header_fails_its_schema():
    message = DOC["components"]["messages"]["indicatorReported"]
    headers = {**message["examples"][0]["headers"], "ce_type": "vn.gov.pcmt.indicator.reported.v9"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(headers, resolved(message["headers"]))


async def test_intake_serves_the_document_and_a_page_without_remote_assets():
    from services.intake.entrypoints.openapi_docs import _app_for_docs

    app = _app_for_docs()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        document = await client.get("/asyncapi.yaml")
        assert document.status_code == 200 and document.headers["content-type"].startswith("application/yaml")
        assert document.text == asyncapi_docs.DOC_PATH.read_text(encoding="utf-8")
        page = await client.get("/asyncapi")
        assert page.status_code == 200 and "progress.raw.v1" in page.text and "ce_specversion" in page.text
        assert "<script" not in page.text and "http://" not in page.text and "https://" not in page.text
