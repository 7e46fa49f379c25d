"""CloudEvents encodings: structured JSON (HTTP) and binary mode (Kafka `ce_*` headers).

Binary mode keeps the data as the record value and the context attributes in headers, so
Kafka tools and consumers can route on `ce_type` without parsing the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ValidationError
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


def _attributes(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """The context attributes in declaration order; extensions follow them."""
    names = tuple((n, _HEADER_PREFIX + n) for n in cls.model_fields if n not in ("data", "datacontenttype"))
    return _ATTRIBUTES.setdefault(cls, names)


@lru_cache(maxsize=1024)  # a regex per event otherwise; the plan's agencies are the sources that pass
def _agency_of(source: str) -> str | None:
    return agency_code_of(source)


def from_kafka(value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The structured form of a binary-mode record, not yet validated. The values of `content-type`
    and `ce_*` headers must be UTF-8 and each attribute appear once (other headers are not read); the
    value is read as `loads` reads a body. The result remembers the value's bytes (`BinaryDocument`)."""
    return binary_document(from_headers(headers), value or b"", what="record value")


class BinaryDocument(dict):
    """The structured form of a binary-mode event that remembers the bytes its data came in, so
    that what is forwarded can be what was sent (`data_bytes`; the dict is what validation reads)."""

    __slots__ = ("data_bytes",)
    data_bytes: bytes


def binary_document(attributes: dict[str, Any], data: bytes, *, what: str = "body") -> BinaryDocument:
    """Attributes read by `from_headers` plus the data, read as `loads` reads a body."""
    document = BinaryDocument(attributes)
    document["data"] = loads(data, what=what)
    document.data_bytes = bytes(data)
    return document


KAFKA_PREFIX, HTTP_PREFIX = _HEADER_PREFIX, "ce-"
_REQUIRED = ("specversion", "id", "source", "type")
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def from_headers(
    headers: Iterable[tuple[str, bytes]],
    *,
    prefix: str = KAFKA_PREFIX,
    where: str = "Kafka header",
    percent_encoded: bool = False,
    required: Collection[str] = _REQUIRED,
) -> dict[str, Any]:
    """The context attributes of a binary-mode event, from its headers: `<prefix><name>` (Kafka's
    `ce_`, HTTP's `ce-`; names as given, so HTTP callers pass them lower-cased) and `content-type`
    (the datacontenttype: application/json, parameters aside). Each attribute once, its value UTF-8
    (after percent-decoding, for HTTP: RFC 3986 `%XX`, a `%` not followed by two hex digits is
    refused). Other headers are not read: they may hold any bytes."""
    attributes: dict[str, Any] = {}
    content_type = CONTENT_TYPE
    for name, raw in headers:
        if type(name) is not str:
            raise DecodeError(f"a header name is {type(name).__name__}, not text")
        content = name.lower() == "content-type"
        if not content and not name.startswith(prefix):
            continue  # not ours (tracing, ...): any bytes
        try:
            raw = bytes(raw) if raw is not None else b""
            if percent_encoded and b"%" in raw:
                if _BAD_PERCENT.search(raw):
                    raise DecodeError(
                        f"{where} {_shown(name)} holds a '%' not followed by two hex digits "
                        "(a '%' itself is sent as %25)"
                    )
                raw = unquote_to_bytes(raw)
            text = raw.decode("utf-8")
        except (UnicodeDecodeError, TypeError) as exc:
            raise DecodeError(f"{where} {_shown(name)} is not UTF-8 text") from exc
        if content:
            content_type = text
        else:
            attribute = name[len(prefix) :]
            if attribute in attributes:
                raise DecodeError(f"{where} {_shown(name)} appears more than once")
            attributes[attribute] = text
    for attribute in required:
        if attribute not in attributes:
            raise DecodeError(f"missing {where} {prefix}{attribute} (binary-mode CloudEvent)")
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise DecodeError(f"content-type header is {_shown(content_type)}; expected {CONTENT_TYPE}")
    attributes["datacontenttype"] = CONTENT_TYPE
    return attributes


MAX_DEPTH = 32  # arrays and objects inside one another; an event needs 3, a batch 4
_DIGITS = re.compile(r"value has (\d+) digits")


def loads(body: bytes, what: str = "body") -> Any:
    """Strict JSON: UTF-8 only (no byte-order mark, no UTF-16/32, which `json.loads` would guess from
    bytes), nesting at most MAX_DEPTH deep, integers as long as Python reads them (4,300 digits; the
    models bound every number far below), no lone surrogate. Anything else is a DecodeError with a
    message an integrator can act on, never another exception. NaN and Infinity are read here and
    refused by the models, which name the field."""
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"{what} is not UTF-8: {exc.reason} at byte {exc.start}{_utf16_hint(body)}"
        ) from exc
    if "\x00" in text:  # never valid JSON (raw NUL); what UTF-16 and UTF-32 look like as UTF-8
        raise DecodeError(f"{what} is not UTF-8 JSON: it contains NUL bytes{_utf16_hint(body, always=True)}")
    try:
        document = json.loads(text)  # from text: faster than from bytes, which guesses the encoding
    except json.JSONDecodeError as exc:
        raise DecodeError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except (RecursionError, MemoryError):
        raise DecodeError(f"{what} nests arrays or objects more than {MAX_DEPTH} deep") from None
    except ValueError as exc:  # an integer longer than Python reads (sys.get_int_max_str_digits)
        digits = _DIGITS.search(str(exc))
        raise DecodeError(
            f"{what} holds an integer of {digits[1] if digits else 'too many'} digits; "
            "no field takes more than a few"
        ) from None
    if (text.count("[") + text.count("{")) > MAX_DEPTH and _deeper_than(document, MAX_DEPTH):
        raise DecodeError(f"{what} nests arrays or objects more than {MAX_DEPTH} deep")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
        raise DecodeError(
            f"{what} holds a lone surrogate escape (\\ud800-\\udfff outside a pair), "
            "which is no Unicode character"
        )
    return document


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # json.loads pairs the others into one character


def _has_lone_surrogate(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _deeper_than(document: Any, limit: int) -> bool:
    level, containers = 0, [document] if isinstance(document, (dict, list)) else []
    while containers:  # breadth first, one level at a time: no recursion
        level += 1
        if level > limit:
            return True
        containers = [
            c
            for parent in containers
            for c in (parent.values() if isinstance(parent, dict) else parent)
            if isinstance(c, (dict, list))
        ]
    return False


def _utf16_hint(body: bytes, always: bool = False) -> str:
    if (
        always
        or body[:2] in (b"\xff\xfe", b"\xfe\xff")
        or body[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")
    ):
        return " (UTF-16 or UTF-32? send UTF-8)"
    return ""


def _shown(text: str) -> str:
    """A header name or value quoted for a message: escaped, and short."""
    return repr(text[:100])


def decode_agency_event(value: bytes | None, headers: Iterable[tuple[str, bytes]]):
    """Binary-mode Kafka record → a validated agency event. Raises DecodeError or ValidationError,
    never anything else, whatever the bytes."""
    return _decode(agency_event_adapter, value, headers)


def decode_status_event(value: bytes | None, headers: Iterable[tuple[str, bytes]]):
    """Like `decode_agency_event`, for the status topic (the notifier catches exactly those two)."""
    return _decode(status_event_adapter, value, headers)


def _decode(adapter: Any, value: bytes | None, headers: Iterable[tuple[str, bytes]]):
    try:
        return adapter.validate_python(from_kafka(value, headers))
    except (DecodeError, ValidationError):
        raise
    except Exception as exc:
        raise DecodeError(f"undecodable record ({type(exc).__name__})") from exc


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
