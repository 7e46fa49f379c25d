"""Body bytes → a typed agency event, or a problem that says exactly what to fix."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.intake.domain.problems import FieldError, Problem, from_validation_error, json_kind, pointer
from shared.events.codec import DecodeError, loads
from shared.events.models import AGENCY_EVENT_TYPES, AgencyEvent, agency_event_adapter
from shared.events.types import PREFIX

_KNOWN = {str(t) for t in AGENCY_EVENT_TYPES}
_KNOWN_BASES = {t.rsplit(".", 1)[0]: t for t in _KNOWN}


_batch_adapter: TypeAdapter[list[AgencyEvent]] = TypeAdapter(list[AgencyEvent])


def fast_parse(body: bytes, *, batch: bool) -> Any | None:
    """Valid bodies (the usual case) parsed and validated in pydantic's Rust core in one go,
    about 2.5x faster than JSON-decoding and then validating each event; None on any problem,
    and the slow path (`parse_json` + `parse_event`) then explains exactly what is wrong."""
    try:
        return (_batch_adapter if batch else agency_event_adapter).validate_json(body)
    except ValidationError:
        return None


def parse_json(body: bytes) -> Any | Problem:
    try:
        return loads(body)
    except DecodeError as exc:
        return Problem("malformed-json", str(exc))


def parse_event(document: Any) -> Any | Problem:
    """A structured-mode CloudEvent (already JSON-decoded) → a validated pydantic event."""
    if isinstance(document, BaseModel):  # validated on the fast path already
        return document
    if not isinstance(document, dict):
        return Problem(
            "not-a-cloudevent", f"expected a JSON object (one CloudEvent); got {json_kind(document)}"
        )
    problem = check_type(document.get("type"))
    if problem:
        return problem
    try:
        return agency_event_adapter.validate_python(document)
    except ValidationError as exc:
        return from_validation_error(exc)


def check_type(event_type: Any) -> Problem | None:
    """Unknown types and versions get their own message: the fix differs (upgrade vs typo)."""
    where = (FieldError(pointer("type"), "is not a supported event type"),)
    if event_type is None:
        return Problem(
            "invalid-event",
            "the CloudEvents attribute `type` is missing",
            (FieldError(pointer("type"), "is required"),),
        )
    if not isinstance(event_type, str):  # first: an object or an array is not even hashable
        return Problem("unknown-event-type", f"`type` must be a string; got {json_kind(event_type)}", where)
    if event_type in _KNOWN:
        return None
    base = event_type.rsplit(".", 1)[0]
    if base in _KNOWN_BASES:
        return Problem(
            "unknown-event-type",
            f"version {event_type.rsplit('.', 1)[-1]!r} of {base} is not "
            f"supported; send {_KNOWN_BASES[base]}",
            where,
        )
    known = ", ".join(sorted(_KNOWN))
    hint = "" if event_type.startswith(PREFIX) else f" (every type starts with {PREFIX!r})"
    return Problem(
        "unknown-event-type", f"unknown event type {event_type!r}{hint}; known types: {known}", where
    )
