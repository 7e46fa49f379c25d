"""CloudEvents encodings: structured JSON (HTTP) and binary mode (Kafka `ce_*` headers).

Binary mode keeps the data as the record value and the context attributes in headers, so
Kafka tools and consumers can route on `ce_type` without parsing the body.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from shared.events.models import agency_code_of, agency_event_adapter, status_event_adapter

CONTENT_TYPE = "application/json"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_HEADER_PREFIX = "ce_"


class DecodeError(ValueError):
    """The bytes are not a CloudEvent at all (not JSON, missing attribute headers, ...)."""


@dataclass(frozen=True)
class KafkaRecord:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def to_kafka(event: BaseModel, key: str | None = None, *, drop: Collection[str] = ()) -> KafkaRecord:
    """Binary mode: the data is the value, every other attribute a `ce_` header (extensions
    named in `drop` left out).

    Absent optional attributes are left out, but the data keeps its explicit nulls: a field
    may be required and nullable (`previous_status`). The key defaults to the agency code.
    Attributes are read off the model rather than through `model_dump`: this runs per event on
    intake's hot path, where a `model_dump` cost more CPU than validating the event.
    """
    headers = [("content-type", (getattr(event, "datacontenttype", None) or CONTENT_TYPE).encode())]
    for name, header in _ATTRIBUTES.get(type(event)) or _attributes(type(event)):
        value = getattr(event, name)
        if value is not None:
            headers.append((header, _header_value(value)))
    for name, value in (event.__pydantic_extra__ or {}).items():
        if value is not None and name not in drop:
            headers.append((_HEADER_PREFIX + name, _header_value(value)))
    source = event.source  # type: ignore[attr-defined]
    key = key or _agency_of(source) or getattr(event, "subject", None) or source
    value = event.data.__pydantic_serializer__.to_json(event.data)  # type: ignore[attr-defined]
    return KafkaRecord(key=key.encode(), value=value, headers=headers)


_ATTRIBUTES: dict[type, tuple[tuple[str, str], ...]] = {}  # event class → (attribute, header name)


def _attributes(cls: type) -> tuple[tuple[str, str], ...]:
    """The context attributes in declaration order; extensions follow them."""
    names = tuple((n, _HEADER_PREFIX + n) for n in cls.model_fields if n not in ("data", "datacontenttype"))
    return _ATTRIBUTES.setdefault(cls, names)


@lru_cache(maxsize=1024)  # a regex per event otherwise; the plan's agencies are the sources that pass
def _agency_of(source: str) -> str | None:
    return agency_code_of(source)


def from_kafka(value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The structured form of a binary-mode record, not yet validated."""
    attributes: dict[str, Any] = {}
    content_type = CONTENT_TYPE
    for name, raw in headers:
        text = raw.decode("utf-8", errors="replace") if raw is not None else ""
        if name.lower() == "content-type":
            content_type = text
        elif name.startswith(_HEADER_PREFIX):
            attributes[name[len(_HEADER_PREFIX):]] = text
    for required in ("specversion", "id", "source", "type"):
        if required not in attributes:
            raise DecodeError(f"missing Kafka header ce_{required} (binary-mode CloudEvent)")
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise DecodeError(f"content-type header is {content_type!r}; expected {CONTENT_TYPE}")
    attributes["datacontenttype"] = CONTENT_TYPE
    attributes["data"] = loads(value or b"", what="record value")
    return attributes


def loads(body: bytes, what: str = "body") -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def decode_agency_event(value: bytes | None, headers: Iterable[tuple[str, bytes]]):
    """Binary-mode Kafka record → a validated agency event (raises DecodeError/ValidationError)."""
    return agency_event_adapter.validate_python(from_kafka(value, headers))


def decode_status_event(value: bytes | None, headers: Iterable[tuple[str, bytes]]):
    return status_event_adapter.validate_python(from_kafka(value, headers))


def to_structured(event: BaseModel) -> bytes:
    return _dumps(event.model_dump(mode="json", exclude_none=True))


def _header_value(value: Any) -> bytes:
    if isinstance(value, str):  # str and StrEnum
        return value.encode()
    if isinstance(value, (bool, int, float)):
        return json.dumps(value).encode()
    return to_jsonable_python(value).encode()  # datetimes, exactly as pydantic's JSON mode writes them


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
