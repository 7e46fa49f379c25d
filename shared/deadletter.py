"""The one dead-letter format, written by every service and read by the operator's tools.

A dead letter is the original record (key, value bytes, headers as raw bytes) plus `dlq_*`
headers saying why, where from, by whom and after how many attempts. Building one never fails,
whatever the original record holds (NUL bytes, invalid UTF-8, None values, odd types): a letter
that cannot be written would stall the partition it was meant to unblock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.events.codec import KafkaRecord
from shared.events.models import agency_code_of

PREFIX = "dlq_"
MAX_DETAIL = 2000  # characters
MAX_ERRORS = 4000  # bytes of the dlq_errors JSON
MAX_ERROR_DETAIL = 500

# reason codes the consumers use (intake's rejections use their Problem.reason)
UNDECODABLE = "undecodable"
REJECTED = "rejected"
PROCESSING_FAILED = "processing-failed"

_NOT_A_CODE = re.compile(r"[^a-z0-9-]+")
# C0/C1 controls, DEL and lone surrogates: unreadable in a log line or a terminal, or unencodable
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BLANKS = re.compile(r"[\t\n\r]")


@dataclass(frozen=True)
class DeadLetterInfo:
    """What a dead letter's headers say; `headers` are the original record's."""

    reason: str
    detail: str
    origin: str  # topic/partition/offset
    service: str
    attempts: int
    time: datetime | None
    errors: tuple[dict[str, Any], ...] = ()
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.origin.rsplit("/", 2)[0] if self.origin.count("/") >= 2 else self.origin

    @property
    def partition(self) -> int | None:
        return _int(self.origin.rsplit("/", 2)[-2]) if self.origin.count("/") >= 2 else None

    @property
    def offset(self) -> int | None:
        return _int(self.origin.rsplit("/", 1)[-1]) if self.origin.count("/") >= 2 else None


def origin_of(record: Any) -> str:
    """`topic/partition/offset` of a consumed record (aiokafka's ConsumerRecord or alike)."""
    return f"{record.topic}/{record.partition}/{record.offset}"


def dead_letter(
    record_key: bytes | str | None,
    value: bytes | None,
    headers: Iterable[tuple[Any, Any]] | None,
    *,
    origin: str | tuple[str, int, int],
    service: str,
    reason: str,
    detail: Any,
    attempts: int = 1,
    errors: Sequence[Any] | None = None,
    now: datetime | None = None,
) -> KafkaRecord:
    """The dead letter of one record (see module doc); never raises on what the record holds."""
    kept = [(_name(n), _raw(v)) for n, v in (headers or ())]
    kept = [(n, v) for n, v in kept if not n.lower().startswith(PREFIX)]
    if not isinstance(origin, str):
        origin = "/".join(str(part) for part in origin)
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        attempts = max(1, int(attempts))
    except (TypeError, ValueError, OverflowError):
        attempts = 1
    kept += [
        ("dlq_reason", reason_code(reason).encode()),
        ("dlq_detail", clean_text(detail).encode()),
        ("dlq_origin", clean_text(origin, 500).encode()),
        ("dlq_service", reason_code(service).encode()),
        ("dlq_attempts", str(attempts).encode()),
        ("dlq_time", when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()),
    ]
    if errors:
        kept.append(("dlq_errors", _errors_json(errors).encode()))
    return KafkaRecord(key=_key(record_key, kept), value=_raw(value), headers=kept)


def read_dead_letter(headers: Iterable[tuple[Any, Any]] | None) -> DeadLetterInfo:
    """Parse a dead letter's headers; tolerant of letters from before this format (missing
    headers read as empty, a free-text reason stays as it was)."""
    original: list[tuple[str, bytes]] = []
    ours: dict[str, str] = {}
    for name, value in headers or ():
        name, value = _name(name), _raw(value)
        if name.lower().startswith(PREFIX):
            ours[name.lower()] = value.decode("utf-8", "replace")
        else:
            original.append((name, value))
    try:
        errors = tuple(e for e in json.loads(ours.get("dlq_errors", "[]")) if isinstance(e, dict))
    except (ValueError, TypeError):
        errors = ()
    try:
        time = datetime.fromisoformat(ours["dlq_time"].replace("Z", "+00:00")) if "dlq_time" in ours else None
    except ValueError:
        time = None
    return DeadLetterInfo(
        reason=ours.get("dlq_reason", ""),
        detail=ours.get("dlq_detail", ""),
        origin=ours.get("dlq_origin", ""),
        service=ours.get("dlq_service", ""),
        attempts=_int(ours.get("dlq_attempts", "")) or 1,
        time=time,
        errors=errors,
        headers=original,
    )


def reason_code(text: Any) -> str:
    """A `[a-z0-9-]+` code (at most 64 characters) from whatever a caller passed."""
    code = _NOT_A_CODE.sub("-", str(text).lower()).strip("-")[:64].strip("-")
    return code or PROCESSING_FAILED


def clean_text(text: Any, limit: int = MAX_DETAIL) -> str:
    """Human text safe in a header and a log: controls and NUL replaced, at most `limit` characters."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        try:
            text = str(text)
        except Exception as exc:
            text = f"<unprintable {type(text).__name__}: {type(exc).__name__}>"
    text = _UNSAFE.sub("\ufffd", _BLANKS.sub(" ", text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _errors_json(errors: Sequence[Any]) -> str:
    """A JSON array of {"pointer", "detail"} within MAX_ERRORS bytes (whole entries dropped)."""
    items = []
    for error in errors:
        if isinstance(error, dict):
            pointer, detail = error.get("pointer", ""), error.get("detail", "")
        elif isinstance(error, (tuple, list)) and len(error) == 2:
            pointer, detail = error
        else:
            pointer, detail = getattr(error, "pointer", ""), getattr(error, "detail", error)
        items.append({"pointer": clean_text(pointer, 200), "detail": clean_text(detail, MAX_ERROR_DETAIL)})
    while True:
        text = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
        if len(text.encode()) <= MAX_ERRORS or not items:
            return text
        items.pop()


def _name(name: Any) -> str:
    """A header name Kafka's client can encode (it encodes names as UTF-8)."""
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name).decode("utf-8", "replace")
    return str(name).encode("utf-8", "replace").decode("utf-8")


def _raw(value: Any) -> bytes:
    """A header or record value as bytes, unchanged when it is bytes already."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    text = value if isinstance(value, str) else str(value)
    try:
        return text.encode("utf-8", "surrogateescape")  # bytes a decode had escaped come back
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _key(original: bytes | str | None, headers: list[tuple[str, bytes]]) -> bytes | None:
    source = next((v for n, v in headers if n == "ce_source"), None)
    if source is not None:
        try:
            agency = agency_code_of(source.decode("utf-8", "replace"))
        except Exception:
            agency = None
        if agency:
            return agency.encode()
    return None if original is None else _raw(original)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
