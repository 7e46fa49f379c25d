"""The AsyncAPI 3.0 description of Tiendo's four topics, generated from the same pydantic models
as docs/schemas/ and the OpenAPI document: channels, keys, the binary-mode `ce_` headers, payload
schemas, the dead-letter headers (`shared.deadletter`). Committed as docs/asyncapi.yaml (a test
fails if it drifts: `python -m services.intake.entrypoints.asyncapi_docs` rewrites it) and served
by intake at /asyncapi.yaml, with a rendered page at /asyncapi."""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from services.intake.domain.problems import REASONS
from services.intake.entrypoints.examples import examples
from shared.deadletter import MAX_DETAIL, MAX_ERRORS
from shared.events.codec import CONTENT_TYPE
from shared.events.models import AGENCY_EVENT_TYPES, STATUS_EVENT_TYPES
from shared.kafka import DLQ, EVENTS, RAW, STATUS
from shared.kafka_access import agency_topic

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
KAFKA_BINDING = "0.5.0"
_TIME = {"type": "string", "format": "date-time", "description": "RFC 3339 with a UTC offset"}


def _short(event_type: str) -> str:  # vn.gov.pcmt.indicator.reported.v1 → indicatorReported
    first, second = event_type.split(".")[3:5]
    return first + "".join(p.capitalize() for p in second.split("_"))


def _data_schemas() -> dict[str, Any]:
    """Each event type's data model as a component schema (pydantic's `$defs` shared)."""
    out: dict[str, Any] = {}
    for model in (*AGENCY_EVENT_TYPES.values(), *STATUS_EVENT_TYPES.values()):
        data = model.model_fields["data"].annotation
        schema = data.model_json_schema(mode="validation")
        out.update(schema.pop("$defs", {}))
        out[data.__name__] = schema
    return json.loads(json.dumps(out).replace('"#/$defs/', '"#/components/schemas/'))


def _ce_headers(event_type: str, source: dict[str, Any], extensions: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"],
        "properties": {
            "content-type": {
                "type": "string",
                "const": CONTENT_TYPE,
                "description": "the datacontenttype; absent means application/json",
            },
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "unique per source; printable UTF-8 (NFC)",
            },
            "ce_source": source,
            "ce_type": {"type": "string", "const": event_type},
            "ce_time": _TIME,
            "ce_subject": {"type": "string", "maxLength": 200},
            **extensions,
        },
        "additionalProperties": {
            "type": "string",
            "description": "ce_<name>: a CloudEvents extension "
            "attribute ([a-z0-9]{1,20}), printable UTF-8; other headers are not read",
        },
    }


_AGENCY_SOURCE = {
    "type": "string",
    "pattern": "^/agencies/[A-Z0-9][A-Z0-9-]{0,39}$",
    "description": "/agencies/<agency code of the plan>",
    "examples": ["/agencies/CA-TINH"],
}
_WARNINGS = {
    "ce_warnings": {
        "type": "string",
        "description": "written by intake only (a sender's own is "
        "dropped): comma-separated plausibility codes, e.g. participants-above-population",
    }
}


def _messages() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    by_type = {ev["type"]: ev for ev in examples().values()}
    for event_type, model in AGENCY_EVENT_TYPES.items():
        data = model.model_fields["data"].annotation
        example = by_type[str(event_type)]
        headers = {
            "content-type": CONTENT_TYPE,
            **{f"ce_{k}": v for k, v in example.items() if k not in ("data", "datacontenttype")},
        }
        messages[_short(str(event_type))] = {
            "name": str(event_type),
            "title": str(event_type),
            "summary": (data.__doc__ or "").strip(),
            "contentType": CONTENT_TYPE,
            "headers": _ce_headers(str(event_type), _AGENCY_SOURCE, _WARNINGS),
            "payload": {"$ref": f"#/components/schemas/{data.__name__}"},
            "bindings": {
                "kafka": {
                    "key": {
                        "type": "string",
                        "description": "the agency code, e.g. CA-TINH (the code in ce_source)",
                    },
                    "bindingVersion": KAFKA_BINDING,
                }
            },
            "examples": [{"name": _short(str(event_type)), "headers": headers, "payload": example["data"]}],
        }
    for event_type, model in STATUS_EVENT_TYPES.items():
        data = model.model_fields["data"].annotation
        messages[_short(str(event_type))] = {
            "name": str(event_type),
            "title": str(event_type),
            "contentType": CONTENT_TYPE,
            "summary": f"written by the aggregator when a {data.__name__.removesuffix('Changed')} changes",
            "headers": _ce_headers(str(event_type), {"type": "string", "const": "/services/aggregator"}, {}),
            "payload": {"$ref": f"#/components/schemas/{data.__name__}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "the agency code (data.agency)"},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
    reasons = sorted({*(r for r in REASONS), "undecodable", "rejected", "processing-failed"})
    messages["deadLetter"] = {
        "name": "dead-letter",
        "title": "A dead letter",
        "summary": "the original record, unchanged, plus dlq_* headers saying why (shared.deadletter)",
        "description": "Key: the agency code when the original's ce_source names one, else the original key. "
        "Value: the original value bytes (empty for a null value), whatever they hold. Headers: the "
        "original ones (minus any dlq_*), as raw bytes, then the dlq_* headers below (UTF-8).",
        "headers": {
            "type": "object",
            "required": ["dlq_reason", "dlq_detail", "dlq_origin", "dlq_service", "dlq_attempts", "dlq_time"],
            "properties": {
                "dlq_reason": {
                    "type": "string",
                    "pattern": "^[a-z0-9-]+$",
                    "description": "a short code: intake's problem reason for rejections, "
                    "undecodable / rejected / processing-failed for consumers",
                    "examples": reasons,
                },
                "dlq_detail": {
                    "type": "string",
                    "maxLength": MAX_DETAIL,
                    "description": "what is wrong, for a person; control characters replaced",
                },
                "dlq_origin": {
                    "type": "string",
                    "description": "topic/partition/offset of the original",
                    "examples": [f"{RAW.name}/3/1042"],
                },
                "dlq_service": {"type": "string", "enum": ["intake", "aggregator", "notifier"]},
                "dlq_attempts": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "attempts made before dead-lettering (1: a plain rejection)",
                },
                "dlq_time": {**_TIME, "description": "when the letter was made (UTC)"},
                "dlq_errors": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "description": f"optional: a JSON array of {{pointer, detail}}, at most "
                    f"{MAX_ERRORS} bytes",
                },
            },
            "additionalProperties": {"description": "the original record's headers, as raw bytes"},
        },
        "payload": {"description": "the original record value's bytes, unchanged"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "agency code, or the original key"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    return messages


def document() -> dict[str, Any]:
    messages = _messages()
    agency = [m for m in messages if m in {_short(str(t)) for t in AGENCY_EVENT_TYPES}]
    status = [m for m in messages if m in {_short(str(t)) for t in STATUS_EVENT_TYPES}]

    def channel(spec, description: str, names: list[str], address: str | None = None) -> dict[str, Any]:
        parameters = (
            {"parameters": {"agency": {"description": "the agency's code in the plan, e.g. CA-HUONG-HOA"}}}
            if address and "{agency}" in address
            else {}
        )
        return {
            "address": address or spec.name,
            "description": description,
            **parameters,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {
                "kafka": {
                    "topic": address or spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": {"retention.ms": spec.retention_ms},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }

    def operation(action: str, name: str, names: list[str], description: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{name}"},
            "description": description,
            "messages": [{"$ref": f"#/channels/{name}/messages/{n}"} for n in names],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tiendo event topics",
            "version": "1.0.0",
            "description": (
                "The Kafka topics of Tiendo, seen from the platform. Every event is a CloudEvent 1.0 in Kafka "
                "binary content mode: the data is the record value (UTF-8 JSON), every other attribute a ce_<name> "
                "header (UTF-8), content-type application/json. Agency systems produce to the raw topic; intake "
                "checks each record as it checks HTTP events (docs/intake.md) and forwards it to the canonical "
                "topic with its value unchanged, or dead-letters it. Payload schemas are those of docs/schemas/."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": (
                    "the local stack's broker (KAFKA_BOOTSTRAP_SERVERS elsewhere); SASL_PLAINTEXT on loopback, "
                    "SASL_SSL (the same credentials plus the broker's CA) between machines"
                ),
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": {
            "agencyRaw": channel(
                RAW,
                "An agency system's own raw topic, keyed by agency code: only that agency's principal may "
                "write it (a broker ACL), and intake binds each record to that agency: a ce_source naming "
                "another agency is dead-lettered (source-mismatch). Credentials: `tiendo agency "
                "kafka-credentials create AGENCY`.",
                agency,
                address=agency_topic(RAW.name, "{agency}"),
            ),
            "raw": channel(
                RAW,
                "The shared raw topic: intake reads it, but with access control on no agency principal "
                "may write it (each writes its own topic above); kept for integrations granted it "
                "explicitly. ce_source must name an agency of the plan.",
                agency,
            ),
            "events": channel(
                EVENTS,
                "The canonical events, written by intake only, after validation; read by the aggregator.",
                agency,
            ),
            "deadLetters": channel(
                DLQ, "Records a service could not take, with why (shared.deadletter).", ["deadLetter"]
            ),
            "status": channel(
                STATUS,
                "KPI and report status changes, written by the aggregator's outbox; read by the notifier.",
                status,
            ),
        },
        "operations": {
            "sendAgencyRaw": operation(
                "send", "agencyRaw", agency, "an agency system produces its events to its own topic"
            ),
            "receiveAgencyRaw": operation(
                "receive", "agencyRaw", agency, "intake reads every agency's topic (by prefix)"
            ),
            "receiveRaw": operation("receive", "raw", agency, "intake reads what agencies produce"),
            "sendEvents": operation("send", "events", agency, "intake forwards valid events"),
            "sendDeadLetters": operation(
                "send",
                "deadLetters",
                ["deadLetter"],
                "intake, the aggregator and the notifier dead-letter what they cannot take",
            ),
            "sendStatus": operation("send", "status", status, "the aggregator announces status changes"),
            "receiveStatus": operation("receive", "status", status, "the notifier alerts on them"),
        },
        "components": {
            "messages": messages,
            "schemas": _data_schemas(),
            "securitySchemes": {
                "scram": {
                    "type": "scramSha512",
                    "description": (
                        "SASL/SCRAM-SHA-512; the broker's StandardAuthorizer refuses what no ACL grants "
                        "(docs/security.md, Kafka): an agency writes only its own raw topic, only intake "
                        "the canonical topic, only the aggregator the status topic."
                    ),
                }
            },
        },
    }


def render() -> str:
    return yaml.safe_dump(document(), allow_unicode=True, sort_keys=False, width=100)


def render_html() -> str:
    """A page of the document without scripts or remote assets: each channel with its messages,
    their headers and payload schemas."""
    doc = document()
    parts = [
        f"<h1>{html.escape(doc['info']['title'])} (AsyncAPI {doc['asyncapi']})</h1>",
        f'<p>{html.escape(doc["info"]["description"])}</p><p><a href="/asyncapi.yaml">asyncapi.yaml</a></p>',
    ]
    components = doc["components"]
    for name, channel in doc["channels"].items():
        parts.append(
            f'<h2 id="{name}">{html.escape(channel["address"])}</h2>'
            f"<p>{html.escape(channel['description'])}</p>"
        )
        for ref in channel["messages"].values():
            key = ref["$ref"].rsplit("/", 1)[1]
            message = components["messages"][key]
            payload = message["payload"]
            if "$ref" in payload:
                payload = components["schemas"][payload["$ref"].rsplit("/", 1)[1]]
            parts.append(
                f"<h3>{html.escape(message['name'])}</h3><p>{html.escape(message.get('summary', ''))}</p>"
                "<details><summary>headers</summary><pre>"
                f"{html.escape(json.dumps(message['headers'], ensure_ascii=False, indent=2))}</pre></details>"
                "<details><summary>payload</summary><pre>"
                f"{html.escape(json.dumps(payload, ensure_ascii=False, indent=2))}</pre></details>"
            )
    style = "body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f4f4f4;padding:.5em}"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(doc["info"]["title"])}'
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH
    target.write_text(render(), encoding="utf-8")
    print(target)
