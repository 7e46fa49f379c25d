"""The records intake forwards: the shared codec's binary mode (`shared.events.codec.to_kafka`),
plus the digest that tells a true re-send from an id reused for different content.

Byte for byte what `to_kafka` writes (tests/intake/unit/test_records.py holds it to that), but
the context attributes are read off the validated event instead of going through a
`model_dump` per event: on intake's hot path, encoding cost more CPU than validating.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic_core import to_jsonable_python

from shared.events.codec import CONTENT_TYPE, KafkaRecord
from shared.events.models import agency_code_of

from services.intake.domain.plan_rules import Plausibility

WARNINGS_EXTENSION = "warnings"  # CloudEvents extension: comma-separated plausibility codes
_ATTRIBUTES: dict[type, tuple[tuple[str, str], ...]] = {}  # event class → (attribute, header name)
_DIGEST_PREFIXES = {name: b"\0" + name.encode() + b"=" for name in (  # the headers every record has
    "content-type", "ce_specversion", "ce_id", "ce_source", "ce_time", "ce_type", "ce_subject")}


def _attributes(cls: type) -> tuple[tuple[str, str], ...]:
    """The context attributes in `model_dump`'s order (declared fields; extensions follow)."""
    names = tuple((n, "ce_" + n) for n in cls.model_fields if n not in ("data", "datacontenttype"))
    return _ATTRIBUTES.setdefault(cls, names)


def _header_value(value: Any) -> bytes:
    if isinstance(value, str):  # str and StrEnum
        return value.encode()
    if isinstance(value, (bool, int)):
        return json.dumps(value).encode()
    return to_jsonable_python(value).encode()  # datetimes, exactly as pydantic's JSON mode writes them


def to_record(event: Any) -> KafkaRecord:
    """The binary-mode record for the events topic. Only intake sets the warnings extension: a
    sender's own `warnings` attribute is dropped."""
    headers = [("content-type", (event.datacontenttype or CONTENT_TYPE).encode())]
    for name, header in _ATTRIBUTES.get(type(event)) or _attributes(type(event)):
        value = getattr(event, name)
        if value is not None:
            headers.append((header, _header_value(value)))
    for name, value in (event.__pydantic_extra__ or {}).items():
        if name != WARNINGS_EXTENSION and value is not None:
            headers.append(("ce_" + name, _header_value(value)))
    key = _agency_of(event.source) or event.subject or event.source
    value = event.data.__pydantic_serializer__.to_json(event.data)
    return KafkaRecord(key.encode(), value, headers)


@lru_cache(maxsize=1024)  # a regex per event otherwise; the plan's agencies are the sources that pass
def _agency_of(source: str) -> str | None:
    return agency_code_of(source)


def digest(record: KafkaRecord) -> str:
    """sha256 over the value and the sorted headers (stored in the registry: keep it stable)."""
    parts = [record.value]
    for name, value in sorted(record.headers):
        parts += (_DIGEST_PREFIXES.get(name) or b"\0" + name.encode() + b"=", value)
    return hashlib.sha256(b"".join(parts)).hexdigest()[:32]


def with_warnings(record: KafkaRecord, warnings: Sequence[Plausibility]) -> KafkaRecord:
    if not warnings:
        return record
    codes = ",".join(w.code for w in warnings).encode()
    return KafkaRecord(record.key, record.value, [*record.headers, ("ce_" + WARNINGS_EXTENSION, codes)])
