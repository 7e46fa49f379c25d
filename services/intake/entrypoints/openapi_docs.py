"""The OpenAPI description of the intake API: request bodies with an example of every event
type, every answer with its problem type. Committed as docs/openapi-intake.json (a test fails
if it drifts: `python -m services.intake.entrypoints.openapi_docs` rewrites it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.intake.domain.problems import PROBLEM_JSON, REASONS
from services.intake.entrypoints.examples import examples
from shared.events.codec import BATCH, CONTENT_TYPE, STRUCTURED
from shared.events.schemas import generated

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "openapi-intake.json"
DESCRIPTION = (
    "The front door for agency systems. Send CloudEvents 1.0 with your agency's API token; a 202 "
    "means the event is stored durably. Errors are RFC 9457 problem details whose `reason` and "
    "`errors[].pointer` say what to fix. One event may be sent in either CloudEvents HTTP content mode: "
    f"structured (`{STRUCTURED}`, the whole event as the body) or binary (`{CONTENT_TYPE}`, the data as the "
    "body and every other attribute as a `ce-` header, values percent-encoded as the HTTP binding says). "
    "See docs/intake.md for a walkthrough with curl."
)

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_RESULT = {"$ref": "#/components/schemas/EventResult"}


def _problem_response(*reasons: str) -> dict[str, Any]:
    return {
        "description": "; ".join(f"`{r}`: {REASONS[r][1]}" for r in reasons),
        "content": {PROBLEM_JSON: {"schema": _PROBLEM}},
    }


def _errors(*extra: str) -> dict[int | str, dict[str, Any]]:
    by_status: dict[int, list[str]] = {}
    for reason in (
        "malformed-json",
        "not-a-cloudevent",
        "unauthenticated",
        "too-large",
        "unsupported-media-type",
        "rate-limited",
        "kafka-unavailable",
        "registry-unavailable",
        *extra,
    ):
        by_status.setdefault(REASONS[reason][0], []).append(reason)
    return {status: _problem_response(*reasons) for status, reasons in sorted(by_status.items())}


def single_event() -> dict[str, Any]:
    event_reasons = [r for r, (status, _) in REASONS.items() if status in (403, 422)]
    responses = {
        202: {
            "description": "Accepted: durably stored in Kafka",
            "content": {"application/json": {"schema": _RESULT}},
        },
        200: {
            "description": "Duplicate: an event with this source and id was accepted before; counted once",
            "content": {"application/json": {"schema": _RESULT}},
        },
        **_errors(*event_reasons),
    }
    body = {
        "required": True,
        "content": {
            STRUCTURED: {
                "schema": {"$ref": "#/components/schemas/AgencyEvent"},
                "examples": {
                    name: {"summary": f"vn.gov.pcmt.{name}.v1", "value": ev}
                    for name, ev in examples().items()
                },
            },
            CONTENT_TYPE: {
                "schema": {
                    "description": "Binary content mode: the event's `data` (its schema is the one of the type "
                    "named by `ce-type`); the other attributes are `ce-` headers",
                    "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in _DATA_SCHEMAS],
                },
                "examples": {
                    name: {
                        "summary": f"data of vn.gov.pcmt.{name}.v1 (with the ce- headers of its example)",
                        "value": ev["data"],
                    }
                    for name, ev in examples().items()
                },
            },
        },
    }
    return {"responses": responses, "openapi_extra": {"requestBody": body, "parameters": _binary_headers()}}


_DATA_SCHEMAS = (
    "ActivityRecorded",
    "CommuneAssessed",
    "IndicatorCorrected",
    "IndicatorReported",
    "ReportSubmitted",
)
_BINARY_HEADERS = {  # attribute → (required in binary mode, description)
    "specversion": (True, "`1.0`; its presence makes the request binary mode"),
    "id": (True, "unique within your agency, e.g. `ca-tinh-2024-06-cases`"),
    "source": (True, "`/agencies/<your agency>`"),
    "type": (True, "the event type, e.g. `vn.gov.pcmt.indicator.reported.v1`"),
    "time": (True, "RFC 3339 with a UTC offset, e.g. `2024-06-20T08:00:00+07:00`"),
    "subject": (False, "optional"),
}


def _binary_headers() -> list[dict[str, Any]]:
    """The `ce-` headers of binary mode. Not `required` in the OpenAPI sense: structured mode sends
    none; a binary-mode request that lacks one is answered 400 (`ce-specversion`) or 422 (the others,
    `errors[].pointer` naming the header). Any other `ce-<name>` header is an extension attribute."""
    example = examples()["indicator.reported"]
    return [
        {
            "name": f"ce-{name}",
            "in": "header",
            "required": False,
            "description": f"Binary mode{' (required)' if required else ''}: the `{name}` attribute, {text}. "
            'Characters outside printable ASCII, space, `"` and `%` are percent-encoded '
            "(UTF-8, e.g. `%C3%A9`).",
            "schema": {"type": "string"},
            **({"example": example[name]} if name in example else {}),
        }
        for name, (required, text) in _BINARY_HEADERS.items()
    ]


def batch() -> dict[str, Any]:
    responses = {
        200: {
            "description": "Per-event results, in request order; `accepted` ones are durable",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResult"}}},
        },
        **_errors(),
    }
    body = {
        "required": True,
        "content": {
            BATCH: {
                "schema": {
                    "type": "array",
                    "maxItems": 500,
                    "items": {"$ref": "#/components/schemas/AgencyEvent"},
                },
                "examples": {
                    "every-type": {"summary": "one event of every type", "value": list(examples().values())}
                },
            }
        },
    }
    return {"responses": responses, "openapi_extra": {"requestBody": body}}


def _schemas() -> dict[str, Any]:
    events = {}
    for name, text in generated().items():
        if any(name.startswith(f"vn.gov.pcmt.{k}.") for k in examples()):
            schema = json.loads(text)
            events[name.removesuffix(".json")] = {
                k: v for k, v in schema.items() if k not in ("$schema", "$id")
            }
    field_error = {
        "type": "object",
        "properties": {
            "pointer": {
                "type": "string",
                "description": "JSON Pointer (RFC 6901), e.g. /data/value; in binary mode an attribute "
                "sent as a header is named by its header, e.g. ce-time",
            },
            "path": {"type": "string", "description": "the same as a JSONPath, e.g. $.data.value"},
            "detail": {"type": "string"},
        },
    }
    return {
        "AgencyEvent": {
            "oneOf": [{"$ref": f"#/components/schemas/{n}"} for n in sorted(events)],
            "discriminator": {"propertyName": "type"},
        },
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details",
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "reason": {"type": "string", "enum": sorted(REASONS)},
                "errors": {"type": "array", "items": field_error},
            },
            "required": ["type", "title", "status", "detail"],
        },
        "EventResult": {
            "type": "object",
            "properties": {
                "index": {"type": "integer", "description": "position in the batch (batch only)"},
                "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected"]},
                "id": {"type": ["string", "null"]},
                "detail": {"type": "string"},
                "warnings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
                    },
                },
                "problem": _PROBLEM,
            },
            "required": ["status", "id"],
        },
        "BatchResult": {
            "type": "object",
            "properties": {
                "accepted": {"type": "integer"},
                "duplicate": {"type": "integer"},
                "rejected": {"type": "integer"},
                "results": {"type": "array", "items": _RESULT},
            },
        },
        **_flatten_defs(events),
    }


def _flatten_defs(events: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's `$defs` inside each schema → shared components, with their refs rewritten."""
    out: dict[str, Any] = {}
    for name, schema in events.items():
        defs = schema.pop("$defs", {})
        out.update(defs)
        out[name] = schema
    text = json.dumps(out).replace('"#/$defs/', '"#/components/schemas/')
    return json.loads(text)


def openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(_schemas())
        schema["components"]["securitySchemes"] = {
            "agencyToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "per-agency API token (tdo_...)",
            }
        }
        for path in ("/v1/events", "/v1/events/batch"):
            schema["paths"][path]["post"]["security"] = [{"agencyToken": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _app_for_docs() -> FastAPI:
    """An app built without infrastructure (nothing is connected until its lifespan runs)."""
    from services.intake.bootstrap import bootstrap
    from services.intake.entrypoints.http import create_app
    from services.intake.settings import IntakeSettings

    settings = IntakeSettings(
        DATABASE_URL="postgresql+asyncpg://docs@localhost/docs", KAFKA_BOOTSTRAP_SERVERS="localhost:9092"
    )
    return create_app(bootstrap(settings))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH
    target.write_text(render(_app_for_docs()), encoding="utf-8")
    print(target)
